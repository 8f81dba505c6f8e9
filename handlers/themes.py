"""Similar opinions together, so that staff read "希望多开几次居民议事会 × 312" rather than 312 lines.

Greedy and order-dependent on purpose: opinions come newest first, each joins the first theme
whose first (newest) opinion it is like, or starts a theme of its own. "Like" is RapidFuzz's
token_sort_ratio over the characters (Chinese) and words (Latin letters, digits), so word order
matters little: 居民议事会能不能多开几次 / 希望多开几次居民议事会 score 77, 宝宝屋周末开放吧 /
宝宝屋周六也能开放就好了 68, unrelated opinions 45-55 (a handful of pairs, not a measured figure).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from rapidfuzz import fuzz, process

SIMILAR = 65
_TOKEN = re.compile(r"[a-z0-9]+|[^\W\d_a-z]")  # a Latin word or number, or one other letter (a hanzi)


@dataclass
class Theme:
    text: str  # its newest opinion
    at: datetime  # when that came
    count: int = 1
    others: list[str] = field(default_factory=list)  # a few more of its opinions, newest first
    ids: list[int] = field(default_factory=list)  # its opinions' ids, when given
    marks: Counter = field(default_factory=Counter)  # how many of them staff marked "read", "answered" (None: not)

    @property
    def state(self) -> str | None:
        """"answered" when staff answered all its opinions, "read" when they read all, else None."""
        if self.marks["answered"] == self.count:
            return "answered"
        return "read" if self.marks["read"] + self.marks["answered"] == self.count else None

    @property
    def unread(self) -> int:
        return self.marks[None]


def tokens(text: str) -> str:
    return " ".join(_TOKEN.findall(text.lower()))


def themes(opinions: Iterable[tuple], others: int = 3) -> list[Theme]:
    """(created_at, text) or (created_at, text, id, mark) rows, newest first -> themes, largest
    first (newest first among equals)."""
    found: list[Theme] = []
    keys: list[str] = []
    seen: dict[str, int] = {}  # a text met before: its theme (many residents write the same words)
    for at, text, *more in opinions:
        if text in seen:
            match = (None, None, seen[text])
        else:
            key = tokens(text)
            match = process.extractOne(key, keys, scorer=fuzz.token_sort_ratio, score_cutoff=SIMILAR) if keys else None
            seen[text] = len(found) if match is None else match[2]
        if match is None:
            theme = Theme(text, at)
            found.append(theme)
            keys.append(key)
        else:
            theme = found[match[2]]
            theme.count += 1
            if len(theme.others) < others:
                theme.others.append(text)
        if more:
            theme.ids.append(more[0])
            theme.marks[more[1] if len(more) > 1 else None] += 1
    return sorted(found, key=lambda t: (-t.count, -t.at.timestamp()))
