"""Train the model of content/model.py, choose its thresholds by cross-validation, and report
how well it does (`python -m bot content eval`).

What it learns from, all kept in content/:
- every entry's sample questions, titles and keywords (labelled with the entry's id);
- content/examples/*.jsonl: messages as residents write them, one JSON object a line,
  {"q": ..., "label": <entry id or one of model.KINDS>, "style": ...}. Staff improve
  understanding by adding lines here, never code.

The thresholds are not set by hand: the examples are split in five folds, each fold is scored
by a model trained without it (the entries' own texts always train), and each threshold is
moved, one at a time, to where the cross-validated messages are handled best (the shared
scoring: an answer with the right entry 1, a clarification offering it 0.5, a kind recognised
1, "no answer" to an out-of-scope question 1), with a confident answer to an out-of-scope
question counted as a further loss. The emergency threshold is chosen apart: a missed emergency
costs 1/(emergencies), a false alarm 10/(other messages), counting only the messages in which
the signs of content/emergency.yaml found no danger (those are emergencies whatever the model says).
"""
from __future__ import annotations

import json
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from content import aspects
from content.emergency import EmergencySigns
from content.features import SCOPE_PATH, Features, features_for
from content.loader import ContentBase, Problem
from content.model import EXAMPLES_DIR, KINDS, Model, Thresholds, Understanding, decide
from content.normalize import normalize

C = 0.5  # the SVM's regularisation (chosen by cross-validation: 0.25-1 within half a point)
FOLDS = 5
FALSE_ALARM_COST = 10.0  # one false alarm weighs as 10 missed emergencies, per message of each kind
# an answer leads the runner-up by something: a torn question ("老人") whose best entry leads by
# nothing is offered as a choice (cross-validation alone, a point and a half in 2400, chose 0 once)
MIN_LEAD = 0.05
OUT_OF_SCOPE_ANSWERED_COST = 1.0  # a confident wrong answer to a question we cannot answer: 15 -> 11 of 165 for 0.1 point


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    style: str = ""
    source: str = ""  # file:line
    kind: str = ""  # an emergency's kind (content/emergency.yaml), for the figures per kind


def read_examples(content: ContentBase, examples_dir: Path = EXAMPLES_DIR) -> tuple[list[Example], list[Problem]]:
    """The labelled messages, and one line per problem (bad JSON, unknown label, empty text)."""
    known = set(content.entries) | set(KINDS)
    examples, problems = [], []
    for path in sorted(examples_dir.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"examples/{path.name}:{number}"
            try:
                row = json.loads(line)
                text, label = str(row["q"]).strip(), str(row["label"])
            except (json.JSONDecodeError, KeyError, TypeError):
                problems.append(Problem(where, "", 'not a JSON object with "q" and "label"'))
                continue
            if label not in known:
                problems.append(Problem(where, "", f"unknown label {label!r}"))
            elif not text:
                problems.append(Problem(where, "", "empty message"))
            else:
                examples.append(Example(text, label, str(row.get("style") or ""), where, str(row.get("kind") or "")))
    return examples, problems


def entry_texts(content: ContentBase) -> list[Example]:
    out = []
    for eid, e in content.entries.items():
        for text in [*e.questions.zh, *e.questions.en, e.title.zh, e.title.en,
                     " ".join(e.keywords.zh), " ".join(e.keywords.en)]:
            if text.strip():
                out.append(Example(text, eid, "content"))
    return out


def fit(features: Features, data: list[Example], thresholds: Thresholds | None = None) -> Model:
    vectorizer = TfidfVectorizer(analyzer=features, sublinear_tf=True)
    matrix = vectorizer.fit_transform([d.text for d in data])
    svm = LinearSVC(C=C, random_state=0).fit(matrix, [d.label for d in data])
    return Model(features, EmergencySigns(), [str(c) for c in svm.classes_], vectorizer.get_feature_names_out().tolist(),
                 vectorizer.idf_.astype(np.float64), np.ascontiguousarray(svm.coef_.T, dtype=np.float32),
                 svm.intercept_.astype(np.float64), thresholds or Thresholds())


def cross_validated_scores(features: Features, base: list[Example], examples: list[Example]) -> tuple[np.ndarray, list[str]]:
    """Each example's scores from a model that did not see it (classes in a fixed order)."""
    classes = sorted({d.label for d in base + examples})
    out = np.zeros((len(examples), len(classes)))
    labels = [e.label for e in examples]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # labels with fewer examples than folds
        folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(examples, labels))
    for train_idx, test_idx in folds:
        model = fit(features, base + [examples[i] for i in train_idx])
        position = [model.classes.index(c) if c in model.classes else -1 for c in classes]
        for i in test_idx:
            scores = model.scores(examples[i].text)
            out[i] = [scores[p] if p >= 0 else -9.0 for p in position]
    return out, classes


def credit(label: str, u: Understanding) -> float:
    """The shared evaluation's credit for one message (../shared/eval/score.py)."""
    if label == "out_of_scope":
        return {"fallback": 1.0, "clarify": 0.5}.get(u.kind, 0.0)
    if label in KINDS:
        return 1.0 if u.kind == label else 0.0
    if u.kind == "answer":
        return 1.0 if u.topic == label else 0.0
    return 0.5 if u.kind == "clarify" and label in u.candidates[:3] else 0.0


def _loss(th: Thresholds, scores: np.ndarray, classes: list[str], labels: list[str], dangers: list[tuple],
          elsewhere: list[bool]) -> float:
    total = 0.0
    for row, label, danger, away in zip(scores, labels, dangers, elsewhere, strict=True):
        u = decide(row, classes, th, danger, away)
        total += credit(label, u)
        if label == "out_of_scope" and u.kind == "answer":
            total -= OUT_OF_SCOPE_ANSWERED_COST
    return -total


def emergency_threshold(scores: np.ndarray, classes: list[str], labels: list[str], dangers: list[tuple]) -> float:
    """Where the model alone raises the alarm, for the messages the signs did not catch."""
    column = scores[:, classes.index("emergency")]
    is_emergency = np.array([label == "emergency" for label in labels])
    unsigned = np.array([not d for d in dangers])
    n_yes, n_no = max(1, is_emergency.sum()), max(1, (~is_emergency).sum())
    yes, no = column[is_emergency & unsigned], column[~is_emergency & unsigned]
    best, best_cost = float(column.max()) + 1, float("inf")
    for t in np.unique(column):
        cost = (yes < t).sum() / n_yes + FALSE_ALARM_COST * (no >= t).sum() / n_no
        if cost < best_cost:
            best, best_cost = t, cost
    below = column[column < best]  # halfway to the next score below: not on one message's edge
    return float((best + below.max()) / 2) if below.size else float(best)


def calibrate(scores: np.ndarray, classes: list[str], labels: list[str], dangers: list[tuple],
              elsewhere: list[bool]) -> Thresholds:
    th = Thresholds(emergency=emergency_threshold(scores, classes, labels, dangers))
    grid = np.round(np.arange(-1.5, 1.51, 0.05), 2)
    for _ in range(3):  # coordinate ascent: one threshold at a time, three passes
        for name in ("kind", "answer", "lead", "clarify", "spread"):
            values = grid if name not in ("lead", "spread") else grid[grid >= (MIN_LEAD if name == "lead" else 0)]
            losses = [_loss(replace(th, **{name: float(v)}), scores, classes, labels, dangers, elsewhere) for v in values]
            th = replace(th, **{name: float(values[int(np.argmin(losses))])})
    return th


@dataclass
class CrossValidation:
    """One cross-validation of the examples: what training, evaluation and staff's batches share."""
    features: Features
    base: list[Example]  # the entries' own texts (+ staff's approved examples): always trained
    examples: list[Example]  # content/examples: held out fold by fold
    thresholds: Thresholds
    decisions: list[Understanding]  # each example decided by the model trained without its fold

    def fit(self) -> Model:
        return fit(self.features, self.base + self.examples, self.thresholds)


def cross_validate(content: ContentBase, examples_dir: Path = EXAMPLES_DIR, scope_path: Path = SCOPE_PATH,
                   extra: Sequence[Example] = ()) -> CrossValidation:
    """Score every example by a model trained without its fold, calibrate the thresholds on those
    scores, and decide each example as the bot would. Raises ValueError on a malformed example."""
    features = features_for(scope_path)
    examples, problems = read_examples(content, examples_dir)
    if problems:
        raise ValueError("content/examples has problems:\n" + "\n".join(map(str, problems)))
    base = entry_texts(content) + list(extra)
    scores, classes = cross_validated_scores(features, base, examples)
    dangers, elsewhere = dangers_of(examples), elsewhere_of(features, examples)
    th = calibrate(scores, classes, [e.label for e in examples], dangers, elsewhere)
    decisions = [decide(row, classes, th, d, a) for row, d, a in zip(scores, dangers, elsewhere, strict=True)]
    return CrossValidation(features, base, examples, th, decisions)


def train(content: ContentBase, examples_dir: Path = EXAMPLES_DIR, scope_path: Path = SCOPE_PATH,
          extra: Sequence[Example] = ()) -> Model:
    """`extra`: staff's approved examples (content/learning.py), always trained like the entries' own texts."""
    return cross_validate(content, examples_dir, scope_path, extra).fit()


def emergency_figures(examples: list[Example], decisions: list[Understanding]) -> list[str]:
    """Emergency recall per kind and false alarms per label (signs and model together, as the
    bot decides), and what the signs alone and the model alone raised."""
    caught, alarms, where = defaultdict(list), defaultdict(list), defaultdict(list)
    by_signs = by_model = 0
    for e, u in zip(examples, decisions, strict=True):
        alarm = u.kind == "emergency"
        if e.label == "emergency":
            caught[e.kind or "?"].append(alarm)
        else:
            group = e.label if e.label in KINDS else "topic"
            alarms[group].append(alarm)
            where["near misses" if "near_miss" in e.source else "the others"].append(alarm)
            by_signs += alarm and bool(u.dangers)
            by_model += alarm and not u.dangers
    lines = ["emergency recall per kind (cross-validated, signs + model):"]
    lines += [f"  {k:<14} {sum(xs)}/{len(xs)}" + (f"  missed {len(xs) - sum(xs)}" if not all(xs) else "")
              for k, xs in sorted(caught.items())]
    lines += ["false alarms per label: " + ", ".join(f"{g} {sum(xs)}/{len(xs)}" for g, xs in sorted(alarms.items())),
              "  " + ", ".join(f"{w} {sum(xs)}/{len(xs)}" for w, xs in sorted(where.items()))
              + f"; raised by the signs {by_signs}, by the model alone {by_model}"]
    return lines


def elsewhere_of(features: Features, examples: list[Example]) -> list[bool]:
    """Which examples name another district or city and not ours (the model answers them honestly)."""
    return [features.elsewhere(normalize(e.text)) for e in examples]


def dangers_of(examples: list[Example]) -> list[tuple]:
    signs = EmergencySigns()
    return [tuple(signs.kinds_in(e.text)) for e in examples]


def pair_confusions(examples: list[Example], decisions: list[Understanding]) -> Counter[tuple[str, str]]:
    """How often two entries were taken for each other (a confident answer with the wrong one)."""
    pairs: Counter[tuple[str, str]] = Counter()
    for e, u in zip(examples, decisions, strict=True):
        if e.label not in KINDS and u.kind == "answer" and u.topic not in (None, e.label):
            pairs[tuple(sorted((e.label, u.topic)))] += 1
    return pairs


def evaluate(content: ContentBase, examples_dir: Path = EXAMPLES_DIR, scope_path: Path = SCOPE_PATH) -> str:
    """The cross-validated figures: per label group, style and entry, and the confusions."""
    try:
        cv = cross_validate(content, examples_dir, scope_path)
    except ValueError as e:
        return str(e)
    examples, decisions, th, base = cv.examples, cv.decisions, cv.thresholds, cv.base
    labels = [e.label for e in examples]
    groups, styles, entries = defaultdict(list), defaultdict(list), defaultdict(list)
    confusions: Counter[tuple[str, str]] = Counter()
    for e, u in zip(examples, decisions, strict=True):
        c = credit(e.label, u)
        group = e.label if e.label in KINDS else "topic"
        groups[group].append(c)
        styles[e.style or "-"].append(c)
        if e.label not in KINDS:
            entries[e.label].append(c)
        if c < 1:
            got = u.topic if u.kind == "answer" else u.kind + (f" {u.candidates}" if u.kind == "clarify" else "")
            confusions[(e.label, got)] += 1

    def pct(xs: list[float]) -> str:
        return f"{100 * sum(xs) / len(xs):5.1f}% (n={len(xs)})"

    total = [c for xs in groups.values() for c in xs]
    lines = [f"cross-validated over {len(examples)} examples in {FOLDS} folds "
             f"(+{len(base)} entry texts always trained): {pct(total)}",
             "thresholds: " + ", ".join(f"{k} {v:.2f}" for k, v in th.__dict__.items()), "by label:"]
    lines += [f"  {g:<14} {pct(xs)}" for g, xs in sorted(groups.items())]
    lines += ["by style:"] + [f"  {s:<14} {pct(xs)}" for s, xs in sorted(styles.items())]
    is_e = [lab == "emergency" for lab in labels]
    missed = sum(1 for e, u in zip(is_e, decisions, strict=True) if e and u.kind != "emergency")
    alarms = sum(1 for e, u in zip(is_e, decisions, strict=True) if not e and u.kind == "emergency")
    oos = sum(1 for lab, u in zip(labels, decisions, strict=True) if lab == "out_of_scope" and u.kind == "answer")
    lines += [f"emergencies missed: {missed}/{sum(is_e)}; false alarms: {alarms}/{len(is_e) - sum(is_e)}; "
              f"out-of-scope answered with an entry: {oos}/{labels.count('out_of_scope')}"]
    lines += emergency_figures(examples, decisions)
    lines += ["by entry (weakest first):"] + [f"  {eid:<36} {pct(xs)}" for eid, xs in
                                             sorted(entries.items(), key=lambda kv: sum(kv[1]) / len(kv[1]))[:15]]
    accuracy, n = aspects.cross_validated_accuracy()
    given, right, covered = aspects.line_first_figures()
    lines += [f"aspect of a question (content/aspects.jsonl): {100 * accuracy:.1f}% cross-validated (n={n}); "
              f"above the calibrated margin ({aspects.aspects().margin:.2f}) {100 * given:.1f}% of the questions get "
              f"a line first, {100 * right:.1f}% of those the asked aspect's, {100 * covered:.1f}% of the aspect "
              f"questions their own line"]
    lines += ["entry pairs confused (answered with the other, both ways, share of the pair's examples):"]
    lines += [f"  {a} <-> {b}  x{n} ({100 * n / (len(entries[a]) + len(entries[b])):.1f}%)"
              for (a, b), n in pair_confusions(examples, decisions).most_common(10)]
    lines += ["confusions (label -> what it got, count):"]
    lines += [f"  {lab} -> {got}  x{n}" for (lab, got), n in confusions.most_common(25)]
    return "\n".join(lines)
