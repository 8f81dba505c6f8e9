"""What the report names: places, programmes and facilities, to tell "the report does not
mention this" from "the report mentions this but gives no details".

The index is built at start-up from the report itself: the names of places, facilities and
programmes (what ends in 中心, 馆, 公园, 计划, ...: every ending of at least four characters
that the report uses at most three times, so 追光小屋 counts and 住宅小区 does not; the longest
one a message names is the one shown),
and every entry's Chinese keywords the report contains (which point to that entry).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from content.loader import ContentBase
from content.normalize import normalize

_KINDS = ("服务中心|中心|馆|公园|绿地|广场|菜场|大楼|大厦|驿站|基地|小屋|书院|学堂|夜校|计划|工程|服务圈|生活圈|"
          "工作室|软件园|补给站|音乐会|市集|步道|青年营")
NAME = re.compile(rf"[\u4e00-\u9fa5·]{{1,10}}?(?:{_KINDS})")
_CLAUSE = re.compile(r"[,，。；;、:：“”\"()（）\s!！?？]")
_SENTENCE = re.compile(r"[^。；;!！?？\n]+")
MIN_TERM, MAX_USES, CONTEXT = 4, 3, 40


@dataclass(frozen=True)
class Mention:
    term: str
    passage: str  # the words around it in the report, verbatim
    entry: str | None  # the entry it is a keyword of, if any


class ReportTerms:
    """Built on first use (50 ms): only a fallback needs it."""

    def __init__(self, report: str, content: ContentBase):
        self._report, self._content = report, content

    @cached_property
    def _terms(self) -> list[tuple[str, str | None]]:
        report, content = self._report, self._content
        terms: dict[str, str | None] = {}
        for clause in _CLAUSE.split(report):
            for match in NAME.finditer(clause):
                name = match.group(0)
                for start in range(len(name) - MIN_TERM + 1):  # every telling ending: 星期五学堂, 期五学堂
                    ending = name[start:]
                    if report.count(ending) <= MAX_USES:
                        terms.setdefault(ending, None)
        for eid, entry in content.entries.items():
            for keyword in entry.keywords.zh:
                if len(keyword) >= 3 and keyword in report:
                    terms[keyword] = eid
        return sorted(terms.items(), key=lambda t: -len(t[0]))

    def mention(self, text: str) -> Mention | None:
        """The longest report term `text` names, with its passage in the report."""
        text = normalize(text)
        for term, entry in self._terms:
            if term in text:
                return Mention(term, self._passage(term), entry)
        return None

    def _passage(self, term: str) -> str:
        at = self._report.index(term)
        sentence = next(m for m in _SENTENCE.finditer(self._report) if m.start() <= at < m.end())
        start = max(sentence.start(), at - CONTEXT)
        end = min(sentence.end(), at + len(term) + CONTEXT)
        return ("…" if start > sentence.start() else "") + self._report[start:end].strip() + (
            "…" if end < sentence.end() else "")
