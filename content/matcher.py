"""Find the content entry a resident's question is about.

Built once at start-up from the content base. Three signals, all general:
- keywords: every keyword (and title term) of an entry found in the question, literally or by
  sound (pinyin, for homophone typos), weighted by how specific it is (entries sharing a keyword
  share its weight) and by its length; English keywords match as stemmed word sequences, with
  RapidFuzz correcting typos against the keyword vocabulary;
- sample questions: RapidFuzz similarity with the entry's sample questions, for paraphrases
  that share few keywords;
- out-of-scope terms (pension, passport, weather...): words of services the report does not
  cover; a keyword inside one does not count, and a question that hits one needs a strong
  topic match to be answered.
The decision: one confident answer, a clarification between up to 3 close candidates, or none.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from content.loader import ContentBase
from content.normalize import en_words, has_han, normalize, pinyin_keys

MAX_CHARS = 400  # a rambling message is matched on its first 400 characters
MAX_TERM = 8  # longest Chinese keyword looked up, in characters
ANSWER_AT = 2.2  # score of a confident answer...
TORN_RATIO = 0.8  # ...unless the runner-up is this close
LEAD_AT, LEAD_RATIO = 0.8, 0.5  # a weaker best entry is answered when it leads the runner-up 2:1
CLARIFY_AT = 0.6  # below this nothing fits
NO_KEYWORD_AT = 1.2  # what an entry needs to be answered on bigrams and sample questions alone
OUT_OF_SCOPE_AT = 4.0  # a question naming an out-of-scope service needs this much to be answered
BIGRAM_WEIGHT = 3.0  # how much the shared-bigram share (0-1) adds


@dataclass(frozen=True)
class Match:
    kind: str  # "answer" | "clarify" | "fallback"
    topic: str | None
    candidates: list[str]
    score: float  # 0-100
    scores: dict[str, float] = field(default_factory=dict, compare=False)


def _title_terms(title: str) -> list[str]:
    """Split a Chinese title into terms: 老年人优待证与老年优待政策 -> [老年人优待证, 老年优待政策]."""
    for sep in "、与和及()(),，/·":
        title = title.replace(sep, " ")
    return [t for t in title.split() if 2 <= len(t) <= MAX_TERM]


class Matcher:
    def __init__(self, content: ContentBase, out_of_scope: dict[str, list[str]] | None = None):
        self.entries = list(content.entries)
        zh_terms: dict[str, set[str]] = defaultdict(set)  # term -> entry ids
        en_terms: dict[tuple[str, ...], set[str]] = defaultdict(set)
        en_single: dict[str, set[str]] = defaultdict(set)
        self._en_partial: set[tuple[str, ...]] = set()  # lone words of phrases: weak evidence
        self._questions: list[tuple[str, str]] = []  # (normalised question, entry id)
        for eid, entry in content.entries.items():
            for kw in [*entry.keywords.zh, *_title_terms(entry.title.zh)]:
                kw = normalize(kw)
                if 2 <= len(kw) <= MAX_TERM and has_han(kw):
                    zh_terms[kw].add(eid)
            for kw in [*entry.keywords.en, entry.title.en]:
                words = tuple(en_words(normalize(kw)))
                if words and len(words) <= 4:
                    en_terms[words].add(eid)
                    # single words of a phrase count too ("pearl" of "pearl plan"), for less
                    for w in words if len(words) > 1 else ():
                        if len(w) >= 4 and w not in _EN_STOP:
                            en_single[w].add(eid)
            for q in [*entry.questions.zh, *entry.questions.en]:
                self._questions.append((normalize(q), eid))

        # A term's specificity is judged on everything the entries say (answers included), so a
        # word like 孩子 that many entries talk about weighs little even if one lists it.
        full_text = {eid: normalize(" ".join([e.title.zh, e.answer.zh, *e.keywords.zh, *e.questions.zh]))
                     for eid, e in content.entries.items()}
        n = len(self.entries)

        def idf(term: str, eids: set[str]) -> float:
            df = len(eids | {eid for eid, text in full_text.items() if term in text})
            return math.log(1 + n / df)

        # Chinese: literal lookup by text, sound lookup by pinyin tuple.
        self._zh: dict[str, list[tuple[str, float]]] = {}
        self._zh_sound: dict[tuple[str, ...], list[tuple[str, float, str]]] = defaultdict(list)
        for term, eids in zh_terms.items():
            weight = idf(term, eids) * min(len(term), 4) / 3
            self._zh[term] = [(eid, weight) for eid in eids]
            for eid in eids:
                    self._zh_sound[pinyin_keys(term)].append((eid, weight, term))
        en_text = {eid: " " + " ".join(en_words(normalize(" ".join(
            [e.title.en, e.answer.en, *e.keywords.en, *e.questions.en])))) + " "
            for eid, e in content.entries.items()}

        def en_idf(words: tuple[str, ...], eids: set[str]) -> float:
            needle = " " + " ".join(words) + " "
            return math.log(1 + n / len(eids | {eid for eid, text in en_text.items() if needle in text}))

        self._en: dict[tuple[str, ...], list[tuple[str, float]]] = {}
        for words, eids in en_terms.items():
            # a lone English word ("lujiazui") is weaker evidence than a phrase ("pearl plan")
            weight = en_idf(words, eids) * (0.6 if len(words) == 1 else 0.8 + 0.5 * (len(words) - 1))
            self._en[words] = [(eid, weight) for eid in eids]
        for word, eids in en_single.items():
            if (word,) not in self._en:
                self._en[(word,)] = [(eid, 0.5 * en_idf((word,), eids)) for eid in eids]
                self._en_partial.add((word,))
        self._en_vocab = sorted({w for words in self._en for w in words if len(w) >= 4})
        self._en_vocab_set = set(self._en_vocab)
        self._en_max = max((len(w) for w in self._en), default=1)

        # Character bigrams of each entry's Chinese keywords, title and sample questions: a
        # paraphrase ("意外保险" for the keyword "意外险") still shares most of its bigrams.
        bigram_entries: dict[str, set[str]] = defaultdict(set)
        for eid, entry in content.entries.items():
            for phrase in [*entry.keywords.zh, entry.title.zh, *entry.questions.zh]:
                for bg in _bigrams(normalize(phrase)):
                    bigram_entries[bg].add(eid)
        self._bigrams = {bg: (idf(bg, eids), eids) for bg, eids in bigram_entries.items()}
        self._unseen_idf = math.log(1 + n)

        oos = out_of_scope or {}
        self._oos_zh = [normalize(t) for t in oos.get("zh", [])]
        self._oos_en = [tuple(en_words(normalize(t))) for t in oos.get("en", [])]
        elsewhere = oos.get("elsewhere", {})
        self._elsewhere = [normalize(t) for t in elsewhere.get("places", [])]
        self._home = [normalize(t) for t in elsewhere.get("home", [])]
        self._q_texts = [q for q, _ in self._questions]

    # -- signals ---------------------------------------------------------------------------

    def _zh_hits(self, text: str, blocked: list[tuple[int, int]]) -> tuple[dict[str, float], int]:
        """Keyword weights per entry, and how many out-of-scope terms are left uncovered.

        The longest term wins where terms of one entry overlap; a term lying inside an
        out-of-scope term (养老 in 养老金) does not count, one containing it (极端天气) does.
        """
        found: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
        sounds = pinyin_keys(text)
        # a span i..j lies inside an out-of-scope term when j <= reach[i], the furthest end of one starting at or before i
        reach = [max((e for s, e in blocked if s <= i), default=0) for i in range(len(text))] if blocked else None
        for i in range(len(text)):
            for j in range(i + 2, min(len(text), i + MAX_TERM) + 1):
                if reach is not None and j <= reach[i]:
                    continue
                span = text[i:j]
                if span in self._zh:
                    for eid, w in self._zh[span]:
                        found[eid].append((i, j, w))
                elif hits := self._zh_sound.get(sounds[i:j]):
                    for eid, w, term in hits:
                        # a typo swaps a character or two, not all of them: 为棋 ~ 围棋, but 是机 !~ 市集
                        if 2 * sum(a == b for a, b in zip(span, term, strict=True)) >= len(term):
                            found[eid].append((i, j, 0.8 * w))  # a homophone counts a little less
        scores, covered = {}, set()
        for eid, spans in found.items():
            spans.sort(key=lambda s: (-(s[1] - s[0]), s[0]))
            taken: set[int] = set()
            total = 0.0
            for i, j, w in spans:
                if not taken.intersection(range(i, j)):
                    taken.update(range(i, j))
                    total += w
            scores[eid] = total
            covered |= taken
        uncovered = sum(1 for s, e in blocked if not covered.issuperset(range(s, e)))
        return scores, uncovered

    def _en_hits(self, words: list[str], blocked: set[int]) -> tuple[dict[str, float], set[str]]:
        """Keyword weights per entry, and the entries matched by a whole keyword (not just a
        lone word of one, which is weak evidence)."""
        fixed = []
        for w in words:  # correct typos against the keyword vocabulary ("vouchr" -> "voucher")
            if len(w) >= 5 and w not in self._en_vocab_set:
                best = process.extractOne(w, self._en_vocab, scorer=Levenshtein.normalized_similarity,
                                          score_cutoff=0.8)
                w = best[0] if best else w
            fixed.append(w)
        scores: dict[str, float] = defaultdict(float)
        whole: set[str] = set()
        seen: set[tuple[str, tuple[str, ...]]] = set()
        for i in range(len(fixed)):
            for j in range(i + 1, min(len(fixed), i + self._en_max) + 1):
                if any(k in blocked for k in range(i, j)):
                    break
                key = tuple(fixed[i:j])
                for eid, w in self._en.get(key, ()):
                    if (eid, key) not in seen:
                        seen.add((eid, key))
                        scores[eid] += w
                        if key not in self._en_partial:
                            whole.add(eid)
        return scores, whole

    def _blocked_zh(self, text: str) -> list[tuple[int, int]]:
        spans = []
        for term in self._oos_zh:
            start = text.find(term)
            while start >= 0:
                spans.append((start, start + len(term)))
                start = text.find(term, start + 1)
        return spans

    def _blocked_en(self, words: list[str]) -> set[int]:
        blocked: set[int] = set()
        for term in self._oos_en:
            for i in range(len(words) - len(term) + 1):
                if tuple(words[i:i + len(term)]) == term:
                    blocked.update(range(i, i + len(term)))
        return blocked

    def _bigram_scores(self, text: str, blocked: list[tuple[int, int]]) -> dict[str, float]:
        """Share (0-1) of the question's informative bigrams that an entry's vocabulary holds.

        Bigrams of out-of-scope terms are left out: 保险 of 保险公司 is no evidence."""
        inside = {k for s, e in blocked for k in range(s, e)}
        masked = "".join(" " if k in inside else c for k, c in enumerate(text))
        grams = _bigrams(masked)
        total = sum(self._bigrams.get(bg, (self._unseen_idf, ()))[0] for bg in grams)
        scores: dict[str, float] = defaultdict(float)
        for bg in grams:
            if bg in self._bigrams:
                weight, eids = self._bigrams[bg]
                for eid in eids:
                    scores[eid] += weight / total
        return scores

    def _question_similarity(self, text: str) -> dict[str, float]:
        """Best RapidFuzz similarity (0-1) with each entry's sample questions."""
        sims: dict[str, float] = {}
        for _q, score, idx in process.extract(text, self._q_texts, scorer=fuzz.ratio, limit=8, score_cutoff=45):
            eid = self._questions[idx][1]
            sims[eid] = max(sims.get(eid, 0.0), score / 100)
        return sims

    # -- decision --------------------------------------------------------------------------

    def elsewhere(self, text: str) -> bool:
        """The question is about another district or town, and not about ours."""
        return any(p in text for p in self._elsewhere) and not any(h in text for h in self._home)

    def match(self, question: str) -> Match:
        text = normalize(question)[:MAX_CHARS]
        if self.elsewhere(text):
            return Match("fallback", None, [], 0.0)
        blocked_zh = self._blocked_zh(text)
        words = en_words(text)
        blocked_en = self._blocked_en(words)
        scores: dict[str, float] = defaultdict(float)
        zh_scores, out_of_scope = self._zh_hits(text, blocked_zh)
        en_scores, en_whole = self._en_hits(words, blocked_en)
        for eid, s in [*zh_scores.items(), *en_scores.items()]:
            scores[eid] += s
        for eid, share in self._bigram_scores(text, blocked_zh).items():
            scores[eid] += BIGRAM_WEIGHT * share
        for eid, sim in self._question_similarity(text).items():
            scores[eid] += 2.5 * max(0.0, sim - 0.45)
        out_of_scope += len(blocked_en)

        keyword_hit = set(zh_scores) | en_whole
        return self._decide(sorted(scores.items(), key=lambda kv: -kv[1]), out_of_scope, keyword_hit)

    @staticmethod
    def _decide(ranked: list[tuple[str, float]], out_of_scope: int, keyword_hit: set[str]) -> Match:
        """Answer when the best entry is strong, or clearly ahead; ask when torn; else nothing.

        An entry none of whose keywords is in the question needs more: shared bigrams or a
        similar sample question make it a candidate, and an answer only when plentiful. Each
        out-of-scope term the question names raises the bar (taxi + airport: twice).
        """
        scores = dict(ranked)
        best_id, best = ranked[0] if ranked else (None, 0.0)
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if best < CLARIFY_AT or (out_of_scope and best < OUT_OF_SCOPE_AT * out_of_scope):
            return Match("fallback", None, [], _percent(best), scores)
        confident = best >= ANSWER_AT or (best >= LEAD_AT and second <= LEAD_RATIO * best)
        if second < TORN_RATIO * best and confident and (best_id in keyword_hit or best >= NO_KEYWORD_AT):
            return Match("answer", best_id, [best_id], _percent(best), scores)
        candidates = [eid for eid, s in ranked[:3] if s >= 0.5 * best]
        return Match("clarify", None, candidates, _percent(best), scores)


_EN_STOP = {"what", "when", "where", "which", "with", "from", "that", "this", "have", "about", "your", "there",
            "their", "them", "they", "does", "into", "more", "some", "service", "centre", "center", "local",
            "near", "nearby", "around", "place", "help", "good", "best", "free", "people", "home"}


def _bigrams(text: str) -> set[str]:
    """Bigrams of consecutive Chinese characters."""
    return {text[i:i + 2] for i in range(len(text) - 1) if has_han(text[i]) and has_han(text[i + 1])}


def _percent(score: float) -> float:
    """Map the open-ended keyword score to 0-100 (ANSWER_AT lands near 70)."""
    return round(100 * (1 - math.exp(-score / 1.8)), 1)
