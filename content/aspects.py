"""Which part of an entry a question asks about (who is eligible, where, when, cost, how to apply,
what was done), and that part's line of the answer, so a resident who asks "how much?" reads the
line on cost first (the report's, or that the report does not say) and then the card.

The aspect of a question is learned from labelled questions (content/aspects.jsonl: {"q", "aspect"},
"none" for a question about the whole subject) by a small naive Bayes over characters and
character pairs (English words too): staff teach it by adding lines there. The line is the first
sentence of the answer that speaks of the aspect; when none does, the reply says the report does
not state it (content/templates/aspect.j2).
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

from content.schema import Entry

ASPECTS = ("eligibility", "where", "when", "cost", "apply", "done")
EXAMPLES_PATH = Path(__file__).resolve().parent / "aspects.jsonl"
FOLDS = 5
# Words by which a sentence of an answer speaks of an aspect.
_SPEAKS = {
    "eligibility": (r"条件|谁可以|哪些人|认定|资格|多大年纪|算高龄|面向哪些", r"who (?:qualif|can)|criteria|eligib|qualif|what age"),
    "where": (r"地址|地点|在哪|位置|门牌|场地|路段", r"address|\bwhere\b|location|venue|street number"),
    "when": (r"时间|什么时候|日期|几点|开放|营业|日程|上线|完工", r"\bwhen\b|hours|\bdates?\b|schedule|launch"),
    "cost": (r"费用|收费|多少钱|金额|价格|免费|会费|保费|租金|标准|出钱",
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


class AspectModel:
    """Multinomial naive Bayes with add-one smoothing: small, and learned from the examples."""

    def __init__(self, rows: list[tuple[str, str]]):
        self.counts: dict[str, Counter[str]] = {}
        labels = Counter(label for _, label in rows)
        for text, label in rows:
            self.counts.setdefault(label, Counter()).update(_features(text))
        self.vocabulary = len(set().union(*self.counts.values())) if self.counts else 1
        self.prior = {label: math.log(n / len(rows)) for label, n in labels.items()}
        self.totals = {label: sum(c.values()) for label, c in self.counts.items()}

    def predict(self, text: str) -> str:
        grams = _features(text)

        def score(label: str) -> float:
            counts, total = self.counts[label], self.totals[label] + self.vocabulary
            return self.prior[label] + sum(n * math.log((counts[g] + 1) / total) for g, n in grams.items())
        return max(self.counts, key=score)


def read_rows(path: Path = EXAMPLES_PATH) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append((str(row["q"]), str(row["aspect"])))
    return rows


@lru_cache(maxsize=1)
def model() -> AspectModel:
    return AspectModel(read_rows())


def aspect_of(question: str) -> str | None:
    """The aspect a question asks about, or None for a question about the whole subject."""
    label = model().predict(question) if question.strip() else "none"
    return label if label in ASPECTS else None


def cross_validated_accuracy(rows: list[tuple[str, str]] | None = None) -> tuple[float, int]:
    """Share of the labelled questions each predicted by a model trained without its fold."""
    rows = rows if rows is not None else read_rows()
    right = 0
    for fold in range(FOLDS):
        trained = AspectModel([r for i, r in enumerate(rows) if i % FOLDS != fold])
        right += sum(trained.predict(text) == label for i, (text, label) in enumerate(rows) if i % FOLDS == fold)
    return right / len(rows), len(rows)


_NOT_SAID = {"zh": re.compile(r"^(报告(?:也)?没有写明|报告没有说明|报告没有)(.+?)[。；]?$"),
             "en": re.compile(r"^(The report does not (?:say|give|explain|mention)|It does not (?:say|give)|"
                              r"The report gives no)\s+(.+?)[.;]?$")}
_ITEMS = {"zh": re.compile(r"、|，也没有写明|，也没有|，|和|及|或"), "en": re.compile(r",\s*(?:or |and |nor )?|\s+(?:or|and|nor)\s+")}
_SAYS = re.compile(r"^(?:报告写到：|报告写的是：|报告只写到：|What (?:the report|it) says: )")


def aspect_line(entry: Entry, aspect: str, lang: str) -> str | None:
    """The first sentence of the answer that speaks of the aspect (None: the answer does not);
    of a sentence listing what the report does not say, only the items of that aspect."""
    pattern = re.compile(_SPEAKS[aspect][lang == "en"], re.IGNORECASE)
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
