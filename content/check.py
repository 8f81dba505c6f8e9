"""`python -m bot content check`: validate the whole content base, one line per problem.

Checks: every area file parses and fits the schema; entry ids are unique; every topic of
../shared/eval/topics.json (or the file in TOPICS_JSON) has an entry; related ids exist; every
source quote is found verbatim in content/source/report.txt; every figure and every claim of
price, time, place or procedure an answer states, in either language, is in the entry's own
quotes (content/claims.py), and so is whatever a yes/no question's "yes", "no" or "it is a plan" would
rest on (content/yesno.py); Chinese answers and titles are in standard written Chinese (no Shanghainese
such as 几钿, 啥辰光, 伐), answers with full-width punctuation; the examples the model learns
from have known labels; the emergency advice names no number but the national emergency lines.
That every template renders for every entry is handlers/texts_check.py's part, which
`python -m bot content check` adds (the templates render with the handlers' values). Exit status 1
on any problem.

Warnings (printed, exit status unaffected): a quote whose quotation marks do not pair up, which
usually means the report lost characters there and the quote should be cut around the glitch.
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from content.claims import claim_problems, figure_problems
from content.emergency import NATIONAL_NUMBERS
from content.loader import AREAS_DIR, CONTENT_DIR, REPORT_PATH, ContentBase, Problem, read_content
from content.yesno import verdict_problems

DEFAULT_TOPICS = CONTENT_DIR.parent.parent / "shared" / "eval" / "topics.json"
Check = Callable[[ContentBase], list[Problem]]  # a further check of the content base
_FIGURE_RE = re.compile(r"\d+(?:\.\d+)?")
# Residents may write Shanghainese; the bot answers in standard Chinese. Words that are
# Shanghainese (or chat) only, not parts of ordinary Mandarin words; 伐 only at a clause's end.
_DIALECT_RE = re.compile(r"几钿|辰光|哪能|屋里厢|阿拉|伊拉|侬|覅|交关|搿|迭个|辣海|事体|小囡|囡囡|啥|伐(?=[？?！!，,。]|$)",
                         re.MULTILINE)
# Half-width punctuation in Chinese text; a full stop between digits (2734.11) is a decimal point.
_ASCII_PUNCT_RE = re.compile(r"[,;:?!()\"']|(?<!\d)\.|\.(?!\d)")


def topic_ids(path: Path) -> list[str]:
    return [t["id"] for t in json.loads(path.read_text(encoding="utf-8"))["topics"]]


def check_entries(base: ContentBase, report: str, topics: list[str] | None) -> list[Problem]:
    problems = []
    for eid, entry in base.entries.items():
        file = base.files[eid]
        for quote in entry.source:
            if quote not in report:
                problems.append(Problem(file, eid, f"source quote not found verbatim in the report: {quote!r}"))
        for rel in entry.related:
            if rel not in base.entries:
                problems.append(Problem(file, eid, f"related entry {rel!r} does not exist"))
        problems += [Problem(file, eid, message) for message in _style_problems(entry)]
        # Every figure and every claim of price, time, place or procedure, in both languages,
        # must come from the entry's own quotes (content/claims.py).
        problems += [Problem(file, eid, message) for message in
                     figure_problems(entry.answer.zh, entry.answer.en, entry.source, report)
                     + claim_problems(entry.answer.zh, entry.answer.en, entry.source)
                     + verdict_problems(entry)]
    if topics is not None:
        for tid in topics:
            if tid not in base.entries:
                problems.append(Problem("topics.json", tid, "topic has no entry in the content base"))
    return problems


def _style_problems(entry) -> list[str]:
    """Shanghainese words in the Chinese answer and title; half-width punctuation in the answer."""
    problems = []
    for field, text in (("answer", entry.answer.zh), ("title", entry.title.zh)):
        if words := sorted(set(_DIALECT_RE.findall(text))):
            problems.append(f"Chinese {field} uses Shanghainese {', '.join(words)}: write standard Chinese")
    if marks := sorted(set(_ASCII_PUNCT_RE.findall(entry.answer.zh))):
        problems.append(f"Chinese answer has half-width punctuation {' '.join(marks)}: use full-width (，。：？“”（）)")
    return problems


def quote_warnings(base: ContentBase) -> list[Problem]:
    """Quotes whose “ ” do not pair up: the report lost a character there; cut the quote shorter."""
    warnings = []
    for eid, entry in base.entries.items():
        for quote in entry.source:
            depth = 0
            for mark in re.findall("[“”]", quote):
                depth += 1 if mark == "“" else -1
                if depth < 0:
                    break
            if depth != 0:
                warnings.append(Problem(base.files[eid], eid, f"quotation marks do not pair up in quote {quote!r}"))
    return warnings


def aspect_example_problems(path: Path | None = None) -> list[Problem]:
    """Every labelled question of the aspect classifier parses and has a known label."""
    from content.aspects import EXAMPLES_PATH, LABELS

    path = path or EXAMPLES_PATH
    problems = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            label, question = row["aspect"], row["q"]
        except (json.JSONDecodeError, KeyError, TypeError):
            problems.append(Problem(path.name, f"line {n}", 'expected {"q": ..., "aspect": ...}'))
            continue
        if label not in LABELS or not str(question).strip():
            problems.append(Problem(path.name, f"line {n}", f"unknown aspect {label!r} (one of {', '.join(LABELS)})"
                                    if label not in LABELS else "empty question"))
    return problems


def check_rules(base: ContentBase) -> list[Problem]:
    """The examples the model learns from, the scope list and the emergency advice."""
    from content.emergency import EMERGENCY_PATH, EmergencySigns
    from content.features import CUES_PATH, SCOPE_PATH, features_for
    from content.training import read_examples

    _, problems = read_examples(base)
    problems += aspect_example_problems()
    try:
        scope = yaml.safe_load(SCOPE_PATH.read_text(encoding="utf-8"))
        if not isinstance(scope, dict) or not isinstance(scope.get("elsewhere"), dict) or not isinstance(scope.get("terms"), dict):
            problems.append(Problem(SCOPE_PATH.name, "", "expected mappings 'terms' (zh, en) and 'elsewhere' (places, home)"))
    except yaml.YAMLError as exc:
        problems.append(Problem(SCOPE_PATH.name, "", f"not valid YAML: {exc}"))
    try:
        features_for()
    except (yaml.YAMLError, TypeError, AttributeError, re.error) as exc:
        problems.append(Problem(CUES_PATH.name, "", f"does not load: {exc}"))
    try:
        signs = EmergencySigns()
        for kind in [*signs.kinds, signs.general]:
            for lang in ("zh", "en"):
                # the emergency and psychological-help lines only: no other number for a resident in danger
                for number in sorted(set(_FIGURE_RE.findall(kind.advice[lang])) - set(NATIONAL_NUMBERS)):
                    problems.append(Problem(EMERGENCY_PATH.name, kind.name,
                                            f"names {number!r}, which is not an emergency or psychological-help line"))
    except (yaml.YAMLError, KeyError, TypeError, AttributeError, re.error) as exc:
        problems.append(Problem(EMERGENCY_PATH.name, "", f"does not load: {exc}"))
    return problems


def run_check(areas_dir: Path = AREAS_DIR, report_path: Path = REPORT_PATH, topics_path: Path | None = None,
              checks: Sequence[Check] = ()) -> list[Problem]:
    """The content's problems, and those `checks` find with it (the templates: `python -m bot
    content check` adds handlers/texts_check.py's, which renders them as the bot does)."""
    base, problems = read_content(areas_dir)
    report = report_path.read_text(encoding="utf-8")
    topics = topic_ids(topics_path) if topics_path and topics_path.exists() else None
    problems += check_entries(base, report, topics)
    problems += check_rules(base)
    for check in checks:
        problems += check(base)
    return problems


def main(areas: str | None = None, checks: Sequence[Check] = ()) -> int:
    areas_dir = Path(areas) if areas else AREAS_DIR
    topics_path = Path(os.environ.get("TOPICS_JSON", DEFAULT_TOPICS))
    if not topics_path.exists():
        print(f"note: {topics_path} not found; topic coverage not checked", file=sys.stderr)
    problems = run_check(areas_dir=areas_dir, topics_path=topics_path, checks=checks)
    for problem in problems:
        print(problem, flush=True)
    base, _ = read_content(areas_dir)
    for warning in quote_warnings(base):
        print(f"warning: {warning}", flush=True)
    print(f"{len(base.entries)} entries in {len(base.areas)} areas: "
          + ("OK" if not problems else f"{len(problems)} problem(s)"), file=sys.stderr)
    return 1 if problems else 0
