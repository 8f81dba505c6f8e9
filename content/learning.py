"""Staff's approved labels as examples the model learns from (issue 25), and what they change.

A label from the console's review page is an entry id, a kind (model.KINDS), or "not_in_report",
which the model learns as out_of_scope: the honest fallback is the right reply to it. Approved
examples are always trained, like the entries' own texts, and never held out, so the
cross-validated figures stay those of the curated content/examples/*.jsonl: a batch is judged by
what it does to them, and one that lowers their score by more than MAX_DROP points is held until
an administrator confirms it.

`retrain` runs in a child process (bot/retrain.py): two cross-validations and a fit, about a
minute of CPU that must not hold up the bot's replies.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from content.loader import ContentBase
from content.model import EXAMPLES_DIR, KINDS, Model
from content.model_cache import model_hash, model_path
from content.normalize import normalize
from content.training import Example, credit, cross_validate, read_examples

NOT_IN_REPORT = "not_in_report"
MAX_DROP = 1.0  # points of the cross-validated score a batch may cost without an administrator's confirmation
STYLE = "reviewed"


def labels(content: ContentBase) -> list[str]:
    """What staff may label a message with: the kinds, "not in the report", every entry."""
    return [*KINDS, NOT_IN_REPORT, *sorted(content.entries)]


def as_examples(pairs: Iterable[tuple[str, str]], content: ContentBase, examples_dir: Path = EXAMPLES_DIR) -> list[Example]:
    """(text, label) pairs -> examples, in order, without those content/examples has already (the
    same normalised text and label: after `content examples export`) or repeats, or unknown labels."""
    known = set(labels(content))
    examples, _ = read_examples(content, examples_dir)
    seen = {(normalize(e.text), e.label) for e in examples}
    out = []
    for text, label in pairs:
        learned = "out_of_scope" if label == NOT_IN_REPORT else label
        key = (normalize(text), learned)
        if label in known and text.strip() and key not in seen:
            seen.add(key)
            out.append(Example(text.strip(), learned, STYLE, "review"))
    return out


@dataclass
class Judgement:
    """The cross-validated score of content/examples without and with a batch, per label."""

    before: float
    after: float
    by_label: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # label: (before %, after %, n)
    added: int = 0

    @property
    def lowers(self) -> bool:
        return self.after < self.before - MAX_DROP

    def report(self) -> str:
        lines = [f"cross-validated score of content/examples: {self.before:.1f}% -> {self.after:.1f}% "
                 f"with {self.added} approved examples" + (" (lowers it by more than a point)" if self.lowers else "")]
        changed = [(lab, b, a, n) for lab, (b, a, n) in self.by_label.items() if abs(a - b) >= 0.05]
        lines.append("changed per label (before -> after):" if changed else "no label changed")
        lines += [f"  {lab:<36} {b:5.1f}% -> {a:5.1f}% (n={n})"
                  for lab, b, a, n in sorted(changed, key=lambda row: row[2] - row[1])]
        return "\n".join(lines)


@dataclass
class _Run:
    score: float
    by_label: dict[str, list[float]]
    model: Model | None = None


def _cross_validate(content: ContentBase, extra: Sequence[Example], examples_dir: Path, train: bool = False) -> _Run:
    cv = cross_validate(content, examples_dir, extra=extra)
    by_label: dict[str, list[float]] = defaultdict(list)
    for e, u in zip(cv.examples, cv.decisions, strict=True):
        by_label[e.label].append(credit(e.label, u))
    total = [c for xs in by_label.values() for c in xs]
    return _Run(100 * sum(total) / len(total), by_label, cv.fit() if train else None)


def compare(content: ContentBase, before: Sequence[Example], after: Sequence[Example],
            examples_dir: Path = EXAMPLES_DIR) -> Judgement:
    return _judge(_cross_validate(content, before, examples_dir), _cross_validate(content, after, examples_dir),
                  len(after) - len(before))


def _judge(old: _Run, new: _Run, added: int) -> Judgement:
    def pct(xs: list[float]) -> float:
        return 100 * sum(xs) / len(xs)

    by_label = {lab: (pct(old.by_label[lab]), pct(xs), len(xs)) for lab, xs in new.by_label.items()}
    return Judgement(old.score, new.score, by_label, added)


@dataclass
class Outcome:
    judgement: Judgement
    model_hash: str = ""  # empty when held: no model was made


def retrain(content: ContentBase, before: Sequence[Example], after: Sequence[Example], confirmed: bool = False,
            examples_dir: Path = EXAMPLES_DIR) -> Outcome:
    """Judge the batch (`after` = `before` + the new examples); unless it lowers the score and is
    not `confirmed`, train the model with `after` and write it to the model cache."""
    new = _cross_validate(content, after, examples_dir, train=True)
    judgement = _judge(_cross_validate(content, before, examples_dir), new, len(after) - len(before))
    if judgement.lowers and not confirmed:
        return Outcome(judgement)
    name = model_hash(after)
    new.model.save(model_path(name))
    return Outcome(judgement, name)
