"""Telegram's limits per chat, kept for everything the bot sends.

Telegram answers 429 "retry after N" to a bot that writes to one chat faster than about one
message a second, and lengthens the ban when the bot tries again before N seconds have passed.
`ChatPacer` wraps the Application's rate limiter (AIORateLimiter: 30 requests a second in all,
20 a minute per group) and, for every request that puts something into a chat:

- sends one request to a chat at a time, in the order they were made;
- leaves CHAT_INTERVAL (one second) between the end of one message to a private chat and the
  start of the next;
- after a 429 sends nothing to that chat before its retry_after: a request waits when the wait
  is at most PATIENCE seconds, and otherwise fails at once with RetryAfter (the time left),
  without asking Telegram. The outbox worker then tries the message again when that time has
  come; a handler's reply goes to the outbox (bot/channels/telegram.py).

A handler's reply, the outbox worker's messages and the error notice all go through the
Application's Bot, so through this.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

CHAT_INTERVAL = 1.0  # seconds between two messages to one private chat
PATIENCE = 5.0  # seconds a request may wait for a chat's retry_after; longer, and it fails at once
KEEP_CHATS = 1024  # chats remembered before the idle ones are forgotten

# Methods that put something into (or change something in) the chat named by their chat_id.
_CHAT_METHODS = ("send", "copy", "forward", "edit", "createforumtopic")


class _RetryAfterWithoutTraceback(logging.Filter):
    """PTB's AIORateLimiter, built with max_retries=0, logs every 429 it passes on with a traceback
    ("Rate limit hit after maximum of 0 retries"); here a 429 is expected and handled (the reply
    waits, the outbox retries after retry_after), so it is one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], RetryAfter):
            record.msg, record.args = "Telegram asked to wait (429): %s", (record.exc_info[1].message,)
            record.exc_info, record.exc_text, record.levelno, record.levelname = None, None, logging.INFO, "INFO"
        return True


logging.getLogger("telegram.ext.AIORateLimiter").addFilter(_RetryAfterWithoutTraceback())


def retry_after_seconds(error: RetryAfter) -> float:
    """RetryAfter.retry_after is an int today and a timedelta in PTB's future; either way, seconds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass
class _Chat:
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    ready_at: float = 0.0  # monotonic time before which nothing goes to the chat


class ChatPacer(BaseRateLimiter[int]):
    """A rate limiter that keeps each chat's pace and bans, around another one (or none)."""

    def __init__(self, inner: BaseRateLimiter | None = None, interval: float = CHAT_INTERVAL,
                 patience: float = PATIENCE) -> None:
        self.inner = inner
        self.interval = interval
        self.patience = patience
        self._chats: dict[str, _Chat] = {}

    async def initialize(self) -> None:
        if self.inner is not None:
            await self.inner.initialize()

    async def shutdown(self) -> None:
        if self.inner is not None:
            await self.inner.shutdown()

    async def process_request(self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any,
                              kwargs: dict[str, Any], endpoint: str, data: dict[str, Any],
                              rate_limit_args: int | None) -> Any:
        chat_id = data.get("chat_id")
        if chat_id is None or not endpoint.lower().startswith(_CHAT_METHODS):
            return await self._pass(callback, args, kwargs, endpoint, data, rate_limit_args)
        chat = self._chat(str(chat_id))
        async with chat.turn:
            wait = chat.ready_at - time.monotonic()
            if wait > self.patience:
                raise RetryAfter(math.ceil(wait))
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await self._pass(callback, args, kwargs, endpoint, data, rate_limit_args)
            except RetryAfter as error:
                chat.ready_at = max(chat.ready_at, time.monotonic() + retry_after_seconds(error))
                raise
            finally:
                if _private(chat_id):
                    chat.ready_at = max(chat.ready_at, time.monotonic() + self.interval)

    async def _pass(self, callback, args, kwargs, endpoint, data, rate_limit_args) -> Any:
        if self.inner is None:
            return await callback(*args, **kwargs)
        return await self.inner.process_request(callback, args, kwargs, endpoint, data, rate_limit_args)

    def _chat(self, chat_id: str) -> _Chat:
        if chat_id not in self._chats and len(self._chats) >= KEEP_CHATS:
            now = time.monotonic()
            for key, chat in list(self._chats.items()):
                if chat.ready_at < now and not chat.turn.locked():
                    del self._chats[key]
        return self._chats.setdefault(chat_id, _Chat())


def _private(chat_id: int | str) -> bool:
    """A user's chat with the bot has a positive id; groups and channels negative ones (or @names)."""
    try:
        return int(chat_id) > 0
    except (TypeError, ValueError):
        return False
