"""Which part of an entry a question asks about (who is eligible, where, when, cost, how to apply,
what was done), and that part's line of the answer, so a resident who asks "how much?" reads the
line on cost first (the report's, or that the report does not say) and then the card.

The aspect of a question is learned from labelled questions (content/aspects.jsonl: {"q", "aspect"},
"exist" for "is there a ...?", "none" for a question about the whole subject) by a small naive Bayes
over characters and character pairs (English words too): staff teach it by adding lines there. A
line is put first only when the classifier is sure: its margin (top log-score minus the runner-up's)
must reach the smallest margin above which its cross-validated predictions are right at least
PRECISION of the time; below it, the card alone. The line is the first sentence of the answer that
speaks of the aspect; when none does, the reply says the report does not state it
(content/templates/aspect.j2). A yes/no question's verdict on that line: content/yesno.py.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from content.schema import Entry

if TYPE_CHECKING:
    from content.loader import ContentBase

ASPECTS = ("eligibility", "where", "when", "cost", "apply", "done")
LABELS = (*ASPECTS, "exist", "none")  # exist: "is there ...?"; none: the whole subject
EXAMPLES_PATH = Path(__file__).resolve().parent / "aspects.jsonl"
FOLDS = 5
PRECISION = 0.95  # how often a line put first must be the asked aspect (cross-validated)
# Words by which a sentence of an answer speaks of an aspect.
_SPEAKS = {
    "eligibility": (r"条件|谁可以|哪些人|资格|多大年纪|算高龄|面向哪些", r"who (?:qualif|can)|criteria|eligib|qualif|what age"),
    "where": (r"地址|地点|在哪|位置|门牌|场地|路段", r"address|\bwhere\b|location|venue|street number"),
    "when": (r"时间|什么时候|日期|几点|开放|营业|日程|上线|完工", r"\bwhen\b|hours|\bdates?\b|schedule|launch"),
    "cost": (r"费用|收费|多少钱|金额|价格|免费|会费|保费|租金|(?:补助|补贴|收费|救助)标准|出钱",
             r"\bcosts?\b|\bfees?\b|charge|price|amount|(?<!-)\bfree\b|premium|\brent\b|pays"),
    "apply": (r"申请|报名|办理|手续|流程|怎么领|怎样|预约|材料|入会",
              r"apply|sign up|register|procedure|how to|documents|\bbook\b|enrol|join"),
    "done": (r"报告写到|报告写的是|报告只写到|报告写道|20\d\d年", r"what (?:the report|it) says|it only says|\bin 20\d\d\b"),
}
_SENTENCE = {"zh": re.compile(r"[^。；\n]+[。；]?"), "en": re.compile(r"(?:[^.;\n]|\.(?=\d))+[.;]?")}


def _features(text: str) -> Counter[str]:
    """Chinese characters and their pairs; English words and their pairs (letters alone say little)."""
    text = text.lower()
    chars = re.findall(r"[\u4e00-\u9fff]", text)
    words = re.findall(r"[a-z]+", text)
    grams = Counter(chars) + Counter(a + b for a, b in zip(chars, chars[1:], strict=False))
    grams.update("w:" + w for w in words)
    grams.update(f"w:{a} {b}" for a, b in zip(words, words[1:], strict=False))
    return grams


# Words of the entries' keywords that are an aspect's own cue (免费, 报名, opening hours): kept.
_CUES = {"zh": "|".join(zh for zh, _ in _SPEAKS.values()) + r"|免费|时间|报名|费|地址|开放|营业|在哪|开门|上线|入会|申请|"
                                                          r"钱|租金|有没有|吗|伐|几|谁|办事|路",
         "en": "|".join(en for _, en in _SPEAKS.values()) + r"|free|open|hours|time|fee|cost|apply|where|when|road|street"}


def subject_words(base: ContentBase) -> re.Pattern[str]:
    """The entries' keywords (宝宝屋, milk voucher), which name what is asked about, not which part
    of it: blanked before the classifier reads a question, so "宝宝屋" teaches no aspect."""
    zh, en = set(), set()
    for entry in base.entries.values():
        zh.update(k for k in entry.keywords.zh if len(k) >= 2 and not re.search(_CUES["zh"], k))
        en.update(k.lower() for k in entry.keywords.en if len(k) >= 4 and not re.search(_CUES["en"], k, re.IGNORECASE))
    alternatives = [re.escape(w) for w in sorted(zh, key=len, reverse=True)]
    alternatives += [rf"\b{re.escape(w)}\b" for w in sorted(en, key=len, reverse=True)]
    return re.compile("|".join(alternatives))


class AspectModel:
    """Multinomial naive Bayes with add-one smoothing: small, and learned from the examples."""

    def __init__(self, rows: list[tuple[str, str]], subjects: re.Pattern[str] | None = None):
        self.subjects = subjects
        self.counts: dict[str, Counter[str]] = {}
        labels = Counter(label for _, label in rows)
        for text, label in rows:
            self.counts.setdefault(label, Counter()).update(self.features(text))
        self.vocabulary = len(set().union(*self.counts.values())) if self.counts else 1
        self.prior = {label: math.log(n / len(rows)) for label, n in labels.items()}
        self.totals = {label: sum(c.values()) for label, c in self.counts.items()}

    def features(self, text: str) -> Counter[str]:
        return _features(self.subjects.sub(" ", text.lower()) if self.subjects else text)

    def scores(self, text: str) -> list[tuple[float, str]]:
        """(log-score, label), best first."""
        grams = self.features(text)

        def score(label: str) -> float:
            counts, total = self.counts[label], self.totals[label] + self.vocabulary
            return self.prior[label] + sum(n * math.log((counts[g] + 1) / total) for g, n in grams.items())
        return sorted(((score(label), label) for label in self.counts), reverse=True)

    def predict(self, text: str) -> str:
        return self.scores(text)[0][1]

    def decide(self, text: str) -> tuple[str, float]:
        """The best label and its margin over the runner-up."""
        (best, label), (second, _) = self.scores(text)[:2]
        return label, best - second


def read_rows(path: Path = EXAMPLES_PATH) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append((str(row["q"]), str(row["aspect"])))
    return rows


def _cross_validated(rows: list[tuple[str, str]], subjects: re.Pattern[str] | None) -> list[tuple[str, str, float]]:
    """(true label, predicted, margin) of each row, by a model trained without its fold."""
    out = []
    for fold in range(FOLDS):
        trained = AspectModel([r for i, r in enumerate(rows) if i % FOLDS != fold], subjects)
        out += [(label, *trained.decide(text)) for i, (text, label) in enumerate(rows) if i % FOLDS == fold]
    return out


def calibrated_margin(predictions: list[tuple[str, str, float]], precision: float = PRECISION) -> float:
    """The smallest margin above which the predictions of an aspect are right `precision` of the time
    (those of "none" are the card alone whatever their margin; a wrong one is a line not given)."""
    said = sorted(((margin, label == got) for label, got, margin in predictions if got != "none"), reverse=True)
    threshold, right = math.inf, 0
    for n, (margin, ok) in enumerate(said, 1):
        right += ok
        if right / n >= precision:
            threshold = margin
    return threshold


class Aspects:
    """The classifier and its calibrated margin."""

    def __init__(self, rows: list[tuple[str, str]], subjects: re.Pattern[str] | None = None):
        self.model = AspectModel(rows, subjects)
        self.margin = calibrated_margin(_cross_validated(rows, subjects))

    def of(self, question: str) -> str | None:
        """The aspect asked ("exist" included), or None: the whole subject, or not sure enough."""
        if not question.strip():
            return None
        label, margin = self.model.decide(question)
        return label if label != "none" and margin >= self.margin else None


@lru_cache(maxsize=1)
def aspects() -> Aspects:
    from content.loader import load_content

    return Aspects(read_rows(), subject_words(load_content()))


def aspect_of(question: str) -> str | None:
    """The aspect a question asks about ("exist": is there one), or None for a question about the whole
    subject or one the classifier is not sure of."""
    return aspects().of(question)


def cross_validated_accuracy(rows: list[tuple[str, str]] | None = None) -> tuple[float, int]:
    """Share of the labelled questions each predicted by a model trained without its fold."""
    rows = rows if rows is not None else read_rows()
    predictions = _cross_validated(rows, aspects().model.subjects)
    return sum(label == got for label, got, _ in predictions) / len(rows), len(rows)


def line_first_figures(rows: list[tuple[str, str]] | None = None) -> tuple[float, float, float]:
    """Cross-validated, with the margin calibrated on the other folds' predictions: the share of the
    questions given a line first, how often that line is of the asked aspect, and the share of the
    aspect questions (not "none") that get their own line."""
    rows = rows if rows is not None else read_rows()
    given = right = asked = 0
    for fold in range(FOLDS):
        trained = Aspects([r for i, r in enumerate(rows) if i % FOLDS != fold], aspects().model.subjects)
        for i, (text, label) in enumerate(rows):
            if i % FOLDS == fold:
                got = trained.of(text)
                given += got is not None
                right += got is not None and got == label
                asked += label != "none"
    return given / len(rows), right / max(given, 1), right / max(asked, 1)


_NOT_SAID = {"zh": re.compile(r"^(报告(?:也)?没有写明|报告没有说明|报告没有)(.+?)[。；]?$"),
             "en": re.compile(r"^(The report does not (?:say|give|explain|mention)|It does not (?:say|give)|"
                              r"The report gives no)\s+(.+?)[.;]?$")}
_ITEMS = {"zh": re.compile(r"、|，也没有写明|，也没有|，|和|及|或"), "en": re.compile(r",\s*(?:or |and |nor )?|\s+(?:or|and|nor)\s+")}
_SAYS = re.compile(r"^(?:报告写到：|报告写的是：|报告只写到：|What (?:the report|it) says: )")


def speaks(aspect: str, lang: str) -> re.Pattern[str]:
    """Words by which a sentence of an answer speaks of the aspect."""
    return re.compile(_SPEAKS[aspect][lang == "en"], re.IGNORECASE)


def aspect_line(entry: Entry, aspect: str, lang: str) -> str | None:
    """The first sentence of the answer that speaks of the aspect (None: the answer does not);
    of a sentence listing what the report does not say, only the items of that aspect."""
    pattern = speaks(aspect, lang)
    for sentence in _SENTENCE[lang].findall(entry.answer.get(lang)):
        sentence = sentence.strip()
        if not pattern.search(sentence):
            continue
        if m := _NOT_SAID[lang].match(sentence):
            items = [i for i in _ITEMS[lang].split(m.group(2)) if pattern.search(i)]
            if items:
                joined = "、".join(items) if lang == "zh" else ", ".join(items)
                return f"{m.group(1)}{joined}。" if lang == "zh" else f"{m.group(1)} {joined}."
        return _SAYS.sub("", sentence)
    return None
