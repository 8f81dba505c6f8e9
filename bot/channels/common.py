"""Helpers every channel adapter shares.

`numbered` shows a reply's buttons as numbered choices ("[1] 养老服务") where a platform has no
buttons (console, WeChat); `picked` reads which of them a resident typed.

`split_text` cuts a reply that is too long for one platform message into several, preferring
line breaks. For Telegram HTML it counts what Telegram counts (the text after entity parsing:
a tag is 0 characters, `&amp;` is 1), never cuts inside a tag or an entity, and closes the
tags still open at a cut and reopens them in the next chunk, so every chunk parses on its own.
"""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

from handlers.types import Button, Outbound, plain_text

TELEGRAM_TEXT_LIMIT = 4096
_NOT_A_WORD = re.compile(r"[\W_]+")


def as_buttons(rows: Sequence[Sequence]) -> tuple[tuple[Button, ...], ...]:
    """Buttons as the database keeps them (db.outbox.Choice: label, data) -> the handlers' Button."""
    return tuple(tuple(Button(choice.label, choice.data) for choice in row) for row in rows)


def numbered(messages: Sequence[Outbound], indent: str = "") -> tuple[str, list[Button]]:
    """Plain text of the messages, a blank line between two, each message's buttons listed
    under it as numbered choices counted across the reply; and the choices, in that order."""
    parts, choices = [], []
    for message in messages:
        lines = [plain_text(message.text).strip()]
        for row in message.buttons:
            for button in row:
                choices.append(button)
                lines.append(f"{indent}[{len(choices)}] {button.label}")
        parts.append("\n".join(line for line in lines if line))
    return "\n\n".join(part for part in parts if part), choices


def choice_number(text: str) -> int | None:
    """The number a resident typed to pick a choice ("2", "２", " 2 "), else None."""
    text = unicodedata.normalize("NFKC", text).strip().rstrip(".。")
    return int(text) if text.isdigit() and len(text) <= 2 else None


def picked(text: str, choices: Sequence[Button]) -> Button | None:
    """The choice a resident typed: its number, or its label ("跳过" for "[1] 跳过"; emoji,
    spaces and punctuation aside, any case)."""
    number = choice_number(text)
    if number is not None:
        return choices[number - 1] if 1 <= number <= len(choices) else None
    typed = _bare(text)
    return next((button for button in choices if typed and _bare(button.label) == typed), None)


def _bare(text: str) -> str:
    return _NOT_A_WORD.sub("", unicodedata.normalize("NFKC", text)).casefold()


# One unit of HTML: a tag, an entity, or a single character.
_HTML_UNIT = re.compile(r"<[^<>]*>|&#?[0-9A-Za-z]+;|.", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][\w-]*)")
_ANY_TAG = re.compile(r"<[^<>]*>")


def split_text(text: str, limit: int = TELEGRAM_TEXT_LIMIT, *, html_markup: bool = True) -> list[str]:
    """Split `text` into chunks of at most `limit` characters, at line breaks where possible.

    A single line longer than `limit` is cut hard. Chunks without visible text are dropped,
    and line breaks at the edges of a chunk are removed. With `html_markup=False` the text is
    treated as plain text (every character counts, `<` is just a character).
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    if len(text) <= limit:  # what Telegram counts is never longer than the markup: it fits
        chunks = [text]
    else:
        units = _HTML_UNIT.findall(text) if html_markup else list(text)
        chunks = _Splitter(limit, html_markup).run(units)
    return [chunk for chunk in (c.strip("\n") for c in chunks) if _visible(chunk, html_markup).strip()]


def _visible(text: str, html_markup: bool) -> str:
    return html.unescape(_ANY_TAG.sub("", text)) if html_markup else text


class _Splitter:
    """Greedy packing of units into chunks; remembers the last line break as the preferred cut."""

    def __init__(self, limit: int, html_markup: bool) -> None:
        self.limit = limit
        self.html_markup = html_markup
        self.chunks: list[str] = []
        self.current: list[str] = []  # units of the chunk being filled
        self.length = 0  # visible length of `current`
        self.open_tags: list[tuple[str, str]] = []  # (name, opening tag as written)
        # the last line break in `current`: (its index, visible length before it, tags open there)
        self.last_break: tuple[int, int, list[tuple[str, str]]] | None = None

    def run(self, units: list[str]) -> list[str]:
        for unit in units:
            self.add(unit)
        if self.current:
            self.chunks.append("".join(self.current) + _closing(self.open_tags))
        return self.chunks

    def add(self, unit: str) -> None:
        size = self.visible_size(unit)
        if unit == "\n" and self.length + size > self.limit:
            self.cut_here()  # the line break itself is the cut
            return
        while self.length + size > self.limit and self.length > 0:
            if self.last_break is not None:
                self.cut_at_last_break()
            else:
                self.cut_here()
        if unit == "\n":
            self.last_break = (len(self.current), self.length, list(self.open_tags))
        self.current.append(unit)
        self.length += size
        self.track_tag(unit)

    def visible_size(self, unit: str) -> int:
        if self.html_markup and unit.startswith("<") and len(unit) > 1:
            return 0
        return 1

    def track_tag(self, unit: str) -> None:
        if not (self.html_markup and unit.startswith("<") and len(unit) > 1):
            return
        match = _TAG_NAME.match(unit)
        if match is None:
            return
        name = match.group(1).lower()
        if unit.startswith("</"):
            for i in range(len(self.open_tags) - 1, -1, -1):
                if self.open_tags[i][0] == name:
                    del self.open_tags[i]
                    break
        elif not unit.endswith("/>"):
            self.open_tags.append((name, unit))

    def cut_at_last_break(self) -> None:
        """End the chunk at the last line break (dropping it); what followed starts the next chunk."""
        index, length, open_tags = self.last_break  # type: ignore[misc]
        head, tail = self.current[:index], self.current[index + 1 :]
        self.chunks.append("".join(head) + _closing(open_tags))
        self.current = [tag for _, tag in open_tags] + tail
        self.length -= length + 1
        self.last_break = None

    def cut_here(self) -> None:
        """End the chunk right here (a line longer than the limit)."""
        self.chunks.append("".join(self.current) + _closing(self.open_tags))
        self.current = [tag for _, tag in self.open_tags]
        self.length = 0
        self.last_break = None


def _closing(open_tags: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(open_tags))
