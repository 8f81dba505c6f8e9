"""`python -m bot content gaps`: the report's passages that no entry quotes, by section, with
their key terms, so whoever keeps the content sees what is missing (and a new report, dropped in
as content/source/report.txt, can be brought in the same way).

With `--questions FILE` (residents' unanswered questions, one a line) each passage also shows how
many of them name one of its terms. No store of unanswered questions is kept yet.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from content.claims import PLAN_HEAD, REVIEW_HEAD, zh_numbers
from content.loader import REPORT_PATH, ContentBase
from content.terms import NAME

_HEADING = re.compile(r"^[一二三四五六七八九十]+、")
_PASSAGE = re.compile(r"[^。；！？]+[。；！？]?")
_QUOTED = re.compile(r"“([^“”]{2,12})”")
MIN_PASSAGE, MAX_TERMS, MAX_NAME = 12, 6, 8


@dataclass(frozen=True)
class Passage:
    part: str  # "2024" (the review) or "2025" (the plans)
    section: str  # the heading it sits under
    start: int
    text: str


def passages(report: str) -> list[Passage]:
    """The report's sentences under its two parts, each with its section's heading."""
    out, part, section, at = [], "", "", 0
    for line in report.splitlines(keepends=True):
        stripped = line.strip()
        if REVIEW_HEAD in stripped or PLAN_HEAD in stripped:
            part, section = ("2024" if REVIEW_HEAD in stripped else "2025"), ""
        elif part and _HEADING.match(stripped):
            section = stripped
        elif part and stripped:
            for m in _PASSAGE.finditer(line):
                if len(m.group(0).strip()) >= MIN_PASSAGE:
                    out.append(Passage(part, section, at + m.start(), m.group(0).strip()))
        at += len(line)
    return out


def quoted_spans(report: str, content: ContentBase) -> list[tuple[int, int]]:
    spans = []
    for entry in content.entries.values():
        for quote in entry.source:
            at = report.find(quote)
            while at >= 0:
                spans.append((at, at + len(quote)))
                at = report.find(quote, at + 1)
    return spans


def key_terms(text: str) -> list[str]:
    """Names of programmes and places (…中心, …计划, “…”) and counts with their measure word."""
    terms: list[str] = []
    for m in [*_QUOTED.finditer(text), *NAME.finditer(text)]:
        term = m.group(1) if m.re is _QUOTED else m.group(0)[-MAX_NAME:]  # the telling end of a name
        if len(term) >= 3 and not any(term in t for t in terms):
            terms = [t for t in terms if t not in term] + [term]
    terms += [written + measure for _, measure, _, written in zh_numbers(text)
              if written[0].isdigit() and measure and not (measure == "年" and len(written) == 4)]  # not a year
    return terms[:MAX_TERMS]


def uncovered(report: str, content: ContentBase) -> list[tuple[Passage, list[str]]]:
    spans = quoted_spans(report, content)
    out = []
    for p in passages(report):
        end = p.start + len(p.text)
        if not any(s < end and p.start < e for s, e in spans):
            out.append((p, key_terms(p.text)))
    return out


def render(content: ContentBase, report_path: Path = REPORT_PATH, questions: list[str] | None = None) -> str:
    report = report_path.read_text(encoding="utf-8")
    gaps, total = uncovered(report, content), len(passages(report))
    named = [(p, terms) for p, terms in gaps if terms]
    lines = [f"{len(gaps)} of {total} passages of the report are quoted by no entry; "
             f"{len(gaps) - len(named)} of them name nothing (headings, thanks), these {len(named)} do:"]
    section = None
    for p, terms in named:
        if (p.part, p.section) != section:
            section = (p.part, p.section)
            lines.append(f"[{'2024 review' if p.part == '2024' else '2025 plans'}] {p.section[:30] or '(opening)'}")
        mentions = "" if questions is None else f"  | asked {sum(any(t in q for t in terms) for q in questions)}x"
        lines.append(f"  - {p.text[:60]}{'…' if len(p.text) > 60 else ''}")
        lines.append(f"    terms: {', '.join(terms) or '-'}{mentions}")
    if questions is None:
        lines.append("unanswered questions: none recorded yet (pass --questions FILE, one a line, to count mentions)")
    else:
        lines.append(f"unanswered questions read: {len(questions)}")
    return "\n".join(lines)
