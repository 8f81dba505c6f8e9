"""Telegram updates between Telegram and the handlers: kept until handled, one at a time per chat.

Every update reaches PTB's `Application.update_queue`: the Updater puts each batch there before
its next getUpdates (whose offset tells Telegram they arrived), the webhook endpoint
(bot/web.py) before Telegram gets its 200. `InboxQueue.put` writes the update to the inbox
(db/inbox.py) first, so an update is never acknowledged before it is stored; one already there
(delivered again while handled) is not queued twice. `ChatProcessor` deletes it from the inbox
once PTB has handled it. Updates a dead process left there are handled again (`Inbox.replay`):
at start-up and every REPLAY_EVERY seconds; their claim (taken in the router's turn, committed
with it: db.store.Store.resident_state) is given back first, or the router would skip them as
handled.

Ordering: one chat's updates are handled one at a time, in the order they came (an album's
photos, quick steps of a report), different chats' at once. PTB's update processor is the
place (BaseUpdateProcessor, which Application uses for concurrent_updates): its process_update
holds one of max_concurrent_updates slots around do_process_update, so an update that waited
there for its chat's previous one would hold a slot, and one chat's burst could take them all.
Instead an update whose chat is busy is left with that chat's running update, which handles it
next, and gives its slot back at once.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from telegram import Bot, Update
from telegram.ext import BaseUpdateProcessor

from bot.photo_files import is_file_id
from db import inbox
from handlers.types import Inbound

if TYPE_CHECKING:
    from db.store import Store

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_CONCURRENT = 256  # updates handled at once, across chats (PTB's default for concurrent_updates)
REPLAY_EVERY = 60.0  # seconds between two looks for updates a dead process left (PostgreSQL)
MAX_ATTEMPTS = 3  # an update every process died with this often is given up (logged)
STORE_RETRY_MOST = 30.0  # seconds between two tries to store an update while the database fails


def update_key(update_id: int) -> str:
    """The key of an update, in the inbox as in the router's claim (Inbound.key)."""
    return Inbound(channel=CHANNEL, user_id="", chat_id="", update_key=str(update_id)).key


class Inbox:
    """This process's side of the inbox: keeps updates, marks them handled, replays dead ones."""

    def __init__(self) -> None:
        self.owner = f"{os.getpid()}-{secrets.token_hex(6)}"
        self.store: Store | None = None  # None: no database, nothing kept
        self.clock: Callable[[], datetime] | None = None  # the bot's (services.clock), given with the store

    async def keep(self, update: Update) -> bool:
        """Store the update, trying again while the database fails (it is not acknowledged
        meanwhile); False when it is in the inbox already."""
        pause = 1.0
        while True:
            try:
                return await inbox.keep(self.store.engine, update_key(update.update_id), update.to_json(), self.owner, self.clock())
            except Exception:  # noqa: BLE001 - whatever the driver raises: not stored, so not acknowledged
                log.exception("could not store update %s; trying again in %.0f s", update.update_id, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, STORE_RETRY_MOST)

    async def done(self, update: object) -> None:
        if self.store is None or not isinstance(update, Update):
            return
        try:
            await inbox.done(self.store.engine, update_key(update.update_id))
        except Exception:  # noqa: BLE001 - it stays in the inbox: handled again after a restart
            log.exception("could not mark update %s handled", update.update_id)

    async def replay(self, queue: asyncio.Queue, bot: Bot) -> int:
        """Queue again the updates dead processes left; returns how many."""
        if self.store is None:
            return 0
        replayed = 0
        for kept in await inbox.take_over(self.store.engine, self.owner, self.clock()):
            if kept.attempts > MAX_ATTEMPTS:
                log.error("giving up update %s: %d processes died handling it", kept.key, kept.attempts - 1)
                await inbox.done(self.store.engine, kept.key)
                continue
            try:
                update = Update.de_json(json.loads(kept.payload), bot)
            except Exception:  # noqa: BLE001 - stored by an older version, say: it must not stop the start
                log.exception("dropping update %s from the inbox: it cannot be read", kept.key)
                await inbox.done(self.store.engine, kept.key)
                continue
            await self.store.release_update(kept.key)  # its handling did not finish: not a repeat
            await asyncio.Queue.put(queue, update)  # kept already
            replayed += 1
        if replayed:
            log.warning("handling again %d update(s) a stopped process had received", replayed)
        return replayed


class InboxQueue(asyncio.Queue):
    """Application.update_queue: an update is stored in the inbox before it is queued, and so
    before the Updater's next getUpdates or the webhook's 200 acknowledge it."""

    def __init__(self, inbox_: Inbox) -> None:
        super().__init__()
        self.inbox = inbox_

    async def put(self, item: Any) -> None:
        if isinstance(item, Update):
            if problem := malformed(item):
                log.warning("ignoring update %s: %s", item.update_id, problem)
                return
            if self.inbox.store is not None and not await self.inbox.keep(item):
                return  # delivered again while it is being handled
        await super().put(item)


def malformed(update: Update) -> str | None:
    """What makes an update unusable (Telegram always sends these parts), or None: a message
    without its chat, or a private chat's message without its sender, would raise in PTB's
    filters and our handlers."""
    message = update.message or update.edited_message
    if message is None:
        return None
    if message.chat is None:
        return "a message without a chat"
    if message.chat.type == message.chat.PRIVATE and message.from_user is None:
        return "a private message without a sender"
    if any(not is_file_id(size.file_id) for size in message.photo or ()):
        return "a photo whose file id is not one (a path or a URL)"
    where = message.location
    if where is not None and not (_finite(where.latitude, 90) and _finite(where.longitude, 180)):
        return "a location that is not a place on Earth"
    return None


def _finite(value: object, limit: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and abs(value) <= limit


def _chat_of(update: object) -> tuple[str, int] | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return ("chat", update.effective_chat.id)
    if update.effective_user is not None:  # a button under an inline message
        return ("user", update.effective_user.id)
    return None


class ChatProcessor(BaseUpdateProcessor):
    """One update at a time per chat, in order; chats concurrently; each update leaves the
    inbox once handled."""

    def __init__(self, inbox_: Inbox, max_concurrent_updates: int = MAX_CONCURRENT) -> None:
        super().__init__(max_concurrent_updates)
        self.inbox = inbox_
        self._waiting: dict[tuple[str, int], deque[tuple[object, Awaitable[Any]]]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = _chat_of(update)
        if chat is None:
            await self._handle(update, coroutine)
            return
        if (waiting := self._waiting.get(chat)) is not None:
            waiting.append((update, coroutine))  # its chat's running update handles it next
            return
        waiting = self._waiting[chat] = deque()
        try:
            await self._handle(update, coroutine)
            while waiting:
                await self._handle(*waiting.popleft())
        finally:
            del self._waiting[chat]
            for _, left in waiting:  # cancelled: they stay in the inbox for the next start
                left.close()

    async def _handle(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine  # PTB's process_update: handler errors go to the error handler, not here
        await self.inbox.done(update)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
