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
ANSWER_AT = 2.2  # keyword-score needed for a confident answer
CLARIFY_AT = 1.2  # below this nothing fits
TORN_RATIO = 0.8  # a runner-up this close to the best makes the matcher ask


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
            for q in [*entry.questions.zh, *entry.questions.en]:
                self._questions.append((normalize(q), eid))

        n = len(self.entries)
        idf = lambda df: math.log(1 + n / df)  # noqa: E731
        # Chinese: literal lookup by text, sound lookup by pinyin tuple.
        self._zh: dict[str, list[tuple[str, float]]] = {}
        self._zh_sound: dict[tuple[str, ...], list[tuple[str, float]]] = defaultdict(list)
        for term, eids in zh_terms.items():
            weight = idf(len(eids)) * min(len(term), 4) / 3
            self._zh[term] = [(eid, weight) for eid in eids]
            for eid in eids:
                    self._zh_sound[pinyin_keys(term)].append((eid, weight))
        self._en: dict[tuple[str, ...], list[tuple[str, float]]] = {}
        for words, eids in en_terms.items():
            weight = idf(len(eids)) * (0.8 + 0.5 * (len(words) - 1))
            self._en[words] = [(eid, weight) for eid in eids]
        self._en_vocab = sorted({w for words in self._en for w in words if len(w) >= 4})
        self._en_max = max((len(w) for w in self._en), default=1)

        oos = out_of_scope or {}
        self._oos_zh = [normalize(t) for t in oos.get("zh", [])]
        self._oos_en = [tuple(en_words(normalize(t))) for t in oos.get("en", [])]
        self._q_texts = [q for q, _ in self._questions]

    # -- signals ---------------------------------------------------------------------------

    def _zh_hits(self, text: str, blocked: list[tuple[int, int]]) -> tuple[dict[str, float], bool]:
        """Keyword weights per entry, and whether an out-of-scope term is left uncovered.

        The longest term wins where terms of one entry overlap; a term lying inside an
        out-of-scope term (养老 in 养老金) does not count, one containing it (极端天气) does.
        """
        found: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
        sounds = pinyin_keys(text)
        for i in range(len(text)):
            for j in range(i + 2, min(len(text), i + MAX_TERM) + 1):
                if any(s <= i and j <= e for s, e in blocked):
                    continue
                span = text[i:j]
                if span in self._zh:
                    for eid, w in self._zh[span]:
                        found[eid].append((i, j, w))
                elif hits := self._zh_sound.get(sounds[i:j]):
                    for eid, w in hits:
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
        uncovered = any(not covered.issuperset(range(s, e)) for s, e in blocked)
        return scores, uncovered

    def _en_hits(self, words: list[str], blocked: set[int]) -> dict[str, float]:
        fixed = []
        for w in words:  # correct typos against the keyword vocabulary ("vouchr" -> "voucher")
            if len(w) >= 5 and not any(w == v for v in self._en_vocab):
                best = process.extractOne(w, self._en_vocab, scorer=Levenshtein.normalized_similarity,
                                          score_cutoff=0.8)
                w = best[0] if best else w
            fixed.append(w)
        scores: dict[str, float] = defaultdict(float)
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
        return scores

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

    def _question_similarity(self, text: str) -> dict[str, float]:
        """Best RapidFuzz similarity (0-1) with each entry's sample questions."""
        sims: dict[str, float] = {}
        for _q, score, idx in process.extract(text, self._q_texts, scorer=fuzz.ratio, limit=8, score_cutoff=45):
            eid = self._questions[idx][1]
            sims[eid] = max(sims.get(eid, 0.0), score / 100)
        return sims

    # -- decision --------------------------------------------------------------------------

    def match(self, question: str) -> Match:
        text = normalize(question)[:MAX_CHARS]
        blocked_zh = self._blocked_zh(text)
        words = en_words(text)
        blocked_en = self._blocked_en(words)
        scores: dict[str, float] = defaultdict(float)
        zh_scores, out_of_scope = self._zh_hits(text, blocked_zh)
        for eid, s in zh_scores.items():
            scores[eid] += s
        for eid, s in self._en_hits(words, blocked_en).items():
            scores[eid] += s
        for eid, sim in self._question_similarity(text).items():
            scores[eid] += 2.5 * max(0.0, sim - 0.45)
        out_of_scope = out_of_scope or bool(blocked_en)

        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        if not ranked or ranked[0][1] < CLARIFY_AT:
            return Match("fallback", None, [], _percent(ranked[0][1] if ranked else 0.0), dict(ranked))
        best_id, best = ranked[0]
        close = [eid for eid, s in ranked[1:3] if s >= TORN_RATIO * best]
        need = ANSWER_AT * (1.6 if out_of_scope else 1.0)
        if best >= need and not close:
            return Match("answer", best_id, [best_id], _percent(best), dict(ranked))
        if out_of_scope and best < need:
            return Match("fallback", None, [], _percent(best), dict(ranked))
        candidates = [best_id, *close] if close else [eid for eid, s in ranked[:3] if s >= 0.5 * best]
        return Match("clarify", None, candidates, _percent(best), dict(ranked))


def _percent(score: float) -> float:
    """Map the open-ended keyword score to 0-100 (ANSWER_AT lands near 70)."""
    return round(100 * (1 - math.exp(-score / 1.8)), 1)
