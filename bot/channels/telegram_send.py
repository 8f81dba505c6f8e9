"""Sending to Telegram: an Outbound as HTML messages of at most 4096 characters with inline
keyboards, and one message tried patiently (a 429 waited out up to PATIENCE, a 5xx or a timeout
tried again DIRECT_PAUSES later). Used by the channel's replies (telegram.py) and the outbox's
sender (telegram_outbox.py)."""
from __future__ import annotations

import asyncio
import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter, TelegramError

from bot.channels.common import TELEGRAM_TEXT_LIMIT, split_text
from bot.channels.telegram_pacing import PATIENCE, retry_after_seconds
from handlers.types import Button, Outbound

log = logging.getLogger(__name__)

CHANNEL = "telegram"
DIRECT_PAUSES = (0.5, 1.0)  # seconds between the tries of a reply message after a 5xx or a timeout

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class NotNow(Exception):  # noqa: N818 - what Telegram said
    """Telegram did not take a message after a few tries; try again in `wait` seconds."""

    def __init__(self, wait: float, reason: str) -> None:
        super().__init__(reason)
        self.wait = wait


async def send_patiently(bot: Bot, chat_id: int | str, part: Outbound, *, message_thread_id: int | None = None,
                         reply_to: str | int | None = None) -> Message:
    """One message, tried up to three times: after a 429 once its retry_after is over (if that
    is within PATIENCE), after a 5xx or a timeout DIRECT_PAUSES later. Raises NotNow when
    Telegram still does not take it; a refusal (400, 403, ...) is raised as it is."""
    for pause in (*DIRECT_PAUSES, None):
        try:
            return await send_part(bot, chat_id, part, message_thread_id=message_thread_id, reply_to=reply_to)
        except (BadRequest, Forbidden, ChatMigrated, InvalidToken):
            raise  # trying again changes nothing
        except RetryAfter as error:
            failure, wait = error, retry_after_seconds(error)
        except TelegramError as error:  # 5xx, timeouts, connection trouble
            failure, wait = error, pause if pause is not None else DIRECT_PAUSES[-1]
        if pause is None or wait > PATIENCE:
            raise NotNow(wait, f"{type(failure).__name__}: {failure.message}") from failure
        log.info("reply to chat %s: %s: %s; trying again in %.1f s", chat_id, type(failure).__name__, failure.message, wait)
        await asyncio.sleep(wait)


def message_parts(outbound: Outbound) -> list[Outbound]:
    """An Outbound as Telegram messages: its text in parts of at most 4096 characters, the
    buttons under the last one (none for an empty text)."""
    chunks = split_text(outbound.text, TELEGRAM_TEXT_LIMIT)
    return [Outbound(chunk, outbound.buttons if number == len(chunks) else ())
            for number, chunk in enumerate(chunks, start=1)]


async def send_part(bot: Bot, chat_id: int | str, part: Outbound, *, message_thread_id: int | None = None,
                    reply_to: str | int | None = None) -> Message:
    """One message of at most 4096 characters, as HTML."""
    return await bot.send_message(
        chat_id=chat_id,
        text=part.text,
        parse_mode=ParseMode.HTML,
        reply_markup=inline_keyboard(part.buttons),
        link_preview_options=_NO_PREVIEW,
        message_thread_id=message_thread_id,
        reply_parameters=reply_parameters(reply_to),
    )


def reply_parameters(message_id: str | int | None) -> ReplyParameters | None:
    """Reply to `message_id`, or just send when it was deleted meanwhile."""
    if not message_id:
        return None
    return ReplyParameters(message_id=int(message_id), allow_sending_without_reply=True)


def inline_keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    """Rows of Buttons as an inline keyboard whose callback_data is the Button's data."""
    keyboard = [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in rows if row]
    return InlineKeyboardMarkup(keyboard) if keyboard else None
