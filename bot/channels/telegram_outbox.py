"""Telegram's side of the outbox, and who counts as staff on Telegram.

`TelegramSender` delivers outbox rows (bot/delivery.py):

- text as HTML, split at 4096 characters, the buttons under the last part; a photo by its
  file id, the text as its caption (1024 characters; any rest follows as a message); a row
  whose parts went out only in part goes on, when tried again, from the first one missing;
- in the moderation chat, a message about a ticket goes where staff expect it: in a forum
  supergroup, into the ticket's own topic ("TQ-2611-0042 环境卫生"), created with its first
  message and created again if staff deleted or closed it, so no resident is lost; in an
  ordinary group, as a reply to the ticket's card;
- Telegram's errors become the worker's outcomes: flood control (429) and network trouble
  (5xx, timeouts) -> RetryLater; a user who blocked the bot or a chat that is gone ->
  Refused(blocked=True); any other refusal -> Refused.

`TelegramStaff` answers "is this user staff?": the ids in STAFF_IDS, and the members of the
moderation chat (asked with getChatMember, twice if Telegram fails, remembered for 10 minutes,
a "no" for 1 minute; an anonymous admin writes as the chat itself, and counts too).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from telegram import Bot, ChatMember, Message, PhotoSize
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.channels.common import as_buttons, split_text
from bot.channels.telegram_pacing import retry_after_seconds
from bot.channels.telegram_send import CHANNEL, inline_keyboard, message_parts, reply_parameters, send_part
from bot.delivery import Refused, RetryLater, Sent
from bot.photo_files import is_file_id
from db import outbox
from db.models import OutboxMessage, Ticket
from db.outbox import buttons_of
from handlers.services import Services
from handlers.types import Outbound

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024
FORUM_CHECK_SECONDS = 600.0  # how long "is the moderation chat a forum?" is remembered
TOPIC_NAME_LIMIT = 128

# What Telegram says when a topic cannot take messages any more.
_TOPIC_GONE = ("message thread not found", "topic_deleted", "topic_closed", "topic_id_invalid", "thread not found")
# ... and when the recipient is gone for good.
_RECIPIENT_GONE = ("chat not found", "user not found", "peer_id_invalid", "user is deactivated")


def topic_gone(error: BadRequest) -> bool:
    return any(words in error.message.lower() for words in _TOPIC_GONE)


class TelegramSender:
    """Sends outbox rows with a PTB Bot (the Application's, so its rate limiter applies)."""

    def __init__(self, bot: Bot, services: Services) -> None:
        self.bot = bot
        self.services = services
        self._forum: dict[str, tuple[float, bool]] = {}  # chat id -> (checked at, is a forum)
        self._topics: dict[int, str] = {}  # ticket id -> topic created but not yet stored
        self._no_topics: dict[str, float] = {}  # chat id -> until when not to try creating topics
        self._begun: dict[int, tuple[Message, int]] = {}  # row id -> its first message, how many went out

    async def send(self, row: OutboxMessage, ticket: Ticket | None) -> Sent:
        try:
            sent = await self._translated(row, ticket)
        except Refused:
            self._begun.pop(row.id, None)  # not tried again
            raise
        self._begun.pop(row.id, None)
        return sent

    async def _translated(self, row: OutboxMessage, ticket: Ticket | None) -> Sent:
        try:
            return await self._send(row, ticket)
        except RetryAfter as error:
            raise RetryLater(retry_after_seconds(error), f"RetryAfter: {error.message}") from error
        except Forbidden as error:
            raise Refused(f"Forbidden: {error.message}", blocked=True) from error
        except BadRequest as error:  # before NetworkError: BadRequest is one
            gone = any(words in error.message.lower() for words in _RECIPIENT_GONE)
            raise Refused(f"BadRequest: {error.message}", blocked=gone) from error
        except ChatMigrated as error:
            raise Refused(f"the group became supergroup {error.new_chat_id}: update MODERATION_CHAT_ID") from error
        except NetworkError as error:  # 5xx, timeouts, connection trouble (TimedOut is one)
            raise RetryLater(None, f"{type(error).__name__}: {error.message}") from error
        except TelegramError as error:  # e.g. InvalidToken: keep the message until it is fixed
            raise RetryLater(None, f"{type(error).__name__}: {error.message}") from error

    async def _send(self, row: OutboxMessage, ticket: Ticket | None) -> Sent:
        if row.purpose == outbox.EDIT:
            return await self._edit(row)
        about_ticket = ticket is not None and self.services.tickets.is_moderation_chat(row.channel, row.chat_id)
        if not about_ticket:
            return Sent(str((await self._post(row, reply_to=row.reply_to)).message_id))
        if await self._is_forum(row.chat_id):
            # a topic opened here but not yet stored on the ticket is the newest one
            thread = self._topics.get(ticket.id) or ticket.thread_id or await self._new_topic(row.chat_id, ticket)
            if thread is not None:
                try:
                    message = await self._post(row, thread=thread, reply_to=row.reply_to)
                except BadRequest as error:
                    if not topic_gone(error):
                        raise
                    log.info("topic %s of %s is gone (%s): opening a new one", thread, ticket.number, error.message)
                    thread = await self._new_topic(row.chat_id, ticket)
                    if thread is None:
                        return await self._send_under_card(row, ticket)
                    message = await self._post(row, thread=thread, reply_to=row.reply_to)
                self._topics.pop(ticket.id, None)
                return Sent(str(message.message_id), thread)
        return await self._send_under_card(row, ticket)

    async def _edit(self, row: OutboxMessage) -> Sent:
        """An edit of the message `row.reply_to` (db.outbox.enqueue_edit); its buttons replace the old ones."""
        if not row.text.strip() or row.reply_to is None:
            raise Refused("an edit without a message or a text")
        try:
            await self.bot.edit_message_text(row.text, chat_id=row.chat_id, message_id=int(row.reply_to),
                                             parse_mode=ParseMode.HTML, reply_markup=inline_keyboard(as_buttons(buttons_of(row))))
        except BadRequest as error:
            if "message is not modified" not in error.message.lower():  # already so: done
                raise
        return Sent(row.reply_to)

    async def _send_under_card(self, row: OutboxMessage, ticket: Ticket) -> Sent:
        """An ordinary group: everything after the card replies to the card."""
        reply_to = row.reply_to or (ticket.card_message_id if row.purpose != "card" else None)
        return Sent(str((await self._post(row, reply_to=reply_to)).message_id))

    async def _is_forum(self, chat_id: str) -> bool:
        checked = self._forum.get(chat_id)
        if checked is None or time.monotonic() - checked[0] > FORUM_CHECK_SECONDS:
            chat = await self.bot.get_chat(chat_id)
            checked = (time.monotonic(), bool(chat.is_forum))
            self._forum[chat_id] = checked
        return checked[1]

    async def _new_topic(self, chat_id: str, ticket: Ticket) -> str | None:
        """A topic of its own for the ticket; None when the bot may not create topics (it
        then posts in General, under the card)."""
        if self._no_topics.get(chat_id, 0.0) > time.monotonic():
            return None
        name = f"{ticket.number} {self.services.categories.title(ticket.category, 'zh')}"[:TOPIC_NAME_LIMIT]
        try:
            topic = await self.bot.create_forum_topic(chat_id, name)
        except BadRequest as error:
            log.error("cannot open a topic for %s in %s (is the bot an admin who may manage topics?): %s",
                      ticket.number, chat_id, error.message)
            self._no_topics[chat_id] = time.monotonic() + FORUM_CHECK_SECONDS
            return None
        thread = str(topic.message_thread_id)
        self._topics[ticket.id] = thread  # if the message then fails, its retry uses this topic
        return thread

    async def _post(self, row: OutboxMessage, thread: str | None = None, reply_to: str | None = None) -> Message:
        """Send the row's messages; returns the first. A row of several messages (a long text,
        a photo whose text does not fit its caption) that failed part way goes on, when tried
        again, from the first message that did not go out."""
        steps = self._steps(row, int(thread) if thread else None, reply_to)
        first, done = self._begun.get(row.id, (None, 0))
        for number, step in enumerate(steps[done:], start=done + 1):
            message = await step()
            first = first or message
            self._begun[row.id] = (first, number)
        if first is None:
            raise Refused("the message has no text")
        return first

    def _steps(self, row: OutboxMessage, thread_id: int | None, reply_to: str | None) -> list[Callable[[], Awaitable[Message]]]:
        """The requests that send the row, in order."""
        if row.document:
            return [lambda: self._send_document(row, thread_id)]
        captions = split_text(row.text, CAPTION_LIMIT) if row.photo and row.text.strip() else []
        rest = "\n".join(captions[1:]) if row.photo else row.text  # a text too long for a caption goes on in messages
        parts = message_parts(Outbound(rest, as_buttons(buttons_of(row))))
        steps: list[Callable[[], Awaitable[Message]]] = []
        if row.photo:
            if not is_file_id(row.photo):  # a path or a URL: the library would read or upload it
                raise Refused(f"the photo {row.photo[:60]!r} is not a Telegram file id")
            # a PhotoSize, not the string: the library sends its file id and never looks for a local file
            photo = PhotoSize(row.photo, row.photo, 0, 0)
            steps.append(lambda: self.bot.send_photo(
                row.chat_id, photo=photo, caption=captions[0] if captions else None,
                parse_mode=ParseMode.HTML if captions else None, message_thread_id=thread_id,
                reply_parameters=reply_parameters(reply_to),
                reply_markup=None if parts else inline_keyboard(as_buttons(buttons_of(row))),
            ))
        for part in parts:
            first = not steps
            steps.append(lambda part=part, first=first: send_part(
                self.bot, row.chat_id, part, message_thread_id=thread_id, reply_to=reply_to if first else None))
        return steps

    async def _send_document(self, row: OutboxMessage, thread_id: int | None) -> Message:
        if row.document_id is not None:
            async with self.services.store.transaction() as session:
                content = await outbox.file_content(session, row.document_id)
            name = row.document or "export"
        else:  # a row queued before the files were kept in the database: a path on this host
            path = Path(row.document)
            content, name = (path.read_bytes() if path.is_file() else None), path.name
        if content is None:
            raise Refused(f"the file {name} is gone")
        return await self.bot.send_document(row.chat_id, document=content, filename=name,
                                            caption=row.text or None, parse_mode=ParseMode.HTML,
                                            message_thread_id=thread_id)


class TelegramStaff:
    """handlers.services.StaffDirectory for Telegram: STAFF_IDS, and the moderation chat's members."""

    YES_SECONDS = 600.0
    NO_SECONDS = 60.0
    RETRY_PAUSE = 0.5  # seconds before asking Telegram again
    MEMBER_STATUSES = (ChatMember.OWNER, ChatMember.ADMINISTRATOR, ChatMember.MEMBER)

    def __init__(self, bot: Bot, moderation_chat_id: int | str | None, staff_ids: frozenset[int] | set[int]) -> None:
        self.bot = bot
        self.chat_id = moderation_chat_id
        self.ids = {str(i) for i in staff_ids}
        self._known: dict[str, tuple[float, bool]] = {}  # user id -> (valid until, is staff)

    async def is_staff(self, channel: str, user_id: str) -> bool:
        if channel in (CHANNEL, "console") and user_id in self.ids:
            return True
        if channel == CHANNEL and self.chat_id is not None and user_id == str(self.chat_id):
            return True  # an anonymous admin, writing as the moderation chat itself
        if channel != CHANNEL or self.chat_id is None or not user_id.lstrip("-").isdigit():
            return False
        known = self._known.get(user_id)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        member = await self._member(user_id)
        if member is None:  # no answer: the last one we had, else no staff power
            return known is not None and known[1]
        staff = not member.user.is_bot and (
            member.status in self.MEMBER_STATUSES
            or (member.status == ChatMember.RESTRICTED and bool(getattr(member, "is_member", False)))
        )
        self._known[user_id] = (time.monotonic() + (self.YES_SECONDS if staff else self.NO_SECONDS), staff)
        return staff

    async def _member(self, user_id: str) -> ChatMember | None:
        """Their membership of the moderation chat, asked twice if Telegram fails (5xx, 429)."""
        for pause in (self.RETRY_PAUSE, None):
            try:
                return await self.bot.get_chat_member(self.chat_id, int(user_id))
            except Exception as error:  # noqa: BLE001 - no answer is no staff power
                transient = isinstance(error, RetryAfter | NetworkError) and not isinstance(error, BadRequest)
                if not transient or pause is None:
                    log.warning("cannot check whether %s is in the moderation chat: %s", user_id, error)
                    return None
            await asyncio.sleep(pause)
        return None
