"""The channel-neutral message types every handler speaks.

A channel adapter (Telegram, WeChat, console) turns a platform update into an `Inbound`,
calls `handlers.router.handle`, and delivers the `Outbound` messages of the `Reply`.
`Outbound.text` is Telegram-flavoured HTML (only <b>, <i>, <blockquote>; everything a
resident typed is escaped); `plain_text()` turns it into plain text for the other channels.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["emergency", "answer", "clarify", "complaint", "opinion", "ticket_status", "greeting", "fallback", "menu", "info",
               "cancel", "note"]  # cancel: a dialog ended at the resident's word; note: text added to a ticket


@dataclass(frozen=True)
class Button:
    """One button: `label` is shown, `data` comes back as `Inbound.callback` (<= 64 bytes)."""

    label: str
    data: str


@dataclass(frozen=True)
class ChannelTraits:
    """What a channel can do, where a handler's reply depends on it. The table of the channels
    is the composition root's (bot/channels/traits.py), so a new channel needs no handler edit."""

    location_pins: bool = False  # its residents can send a location pin
    staff_photos: bool = False  # photos staff send in the moderation chat (Telegram file ids) reach its residents


@dataclass(frozen=True)
class Inbound:
    """One thing a resident did: sent text, a /command, or pressed a button."""

    channel: str  # "telegram" | "wechat" | "console"
    user_id: str
    chat_id: str
    text: str = ""
    callback: str | None = None  # Button.data of the pressed button
    language: str | None = None  # the platform's language hint, e.g. Telegram's language_code
    message_id: str | None = None
    unsupported: str | None = None  # "sticker", "voice", ... when the message carries no text we can use
    photos: tuple[str, ...] = ()  # platform file ids of attached photos
    location: tuple[float, float] | None = None  # (latitude, longitude) of a location pin
    reply_to: str | None = None  # id of the message this one replies to (staff replying to a card)
    thread_id: str | None = None  # forum topic the message was sent in
    update_key: str | None = None  # platform update id: a repeated delivery is recognised by it
    user_name: str | None = None  # @username or display name, for staff events
    reply_text: str | None = None  # the text of our message this one replies to (it names the ticket)
    spoken: bool = False  # the text came from speech recognition (a WeChat voice message): it may read oddly

    @property
    def key(self) -> str | None:
        """What identifies this update across repeated deliveries."""
        if self.update_key:
            return f"{self.channel}:u:{self.update_key}"
        if self.message_id:
            return f"{self.channel}:m:{self.chat_id}:{self.message_id}:{self.callback or ''}"
        return None


@dataclass(frozen=True)
class Outbound:
    """One message to send: HTML text and rows of buttons."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()


@dataclass
class Reply:
    """What the router decided, and the messages that carry it."""

    kind: Kind
    messages: list[Outbound]
    topic: str | None = None
    candidates: list[str] = field(default_factory=list)
    score: float = 0.0
    language: str = "zh"
    best: tuple[tuple[str, float], ...] = ()  # the model's best classes and scores for the text (Understanding.best)


_TAG = re.compile(r"</?(?:b|i|u|s|code|pre|blockquote)(?: [^>]*)?>")


def plain_text(text_html: str) -> str:
    """Strip our small HTML subset and unescape entities, for channels without markup."""
    return html.unescape(_TAG.sub("", text_html))
