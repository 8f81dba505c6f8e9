"""The outbox's sender for WeChat residents (bot/delivery.py): staff replies, status notices and
event notices as customer-service messages; their buttons become the resident's numbered choices.

A resident who has not written for 48 hours cannot get a customer-service message (45015): the
row is held (delivery.Held) and handed over when they next write. With a template configured
(wechat_template.py) they get a template message meanwhile, saying there is a reply; without
one, staff are told it did not reach them."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.channels.common import as_buttons, numbered
from bot.channels.wechat_api import (
    BUSY,
    OUT_OF_WINDOW,
    TOKEN_STALE,
    UNREACHABLE,
    WeChatApi,
    WeChatApiError,
    WeChatUnavailable,
)
from bot.channels.wechat_choices import remember
from bot.channels.wechat_template import Template
from bot.channels.wechat_xml import CHANNEL, split_bytes
from handlers.types import Outbound

if TYPE_CHECKING:
    from db.models import OutboxMessage, Ticket
    from db.store import Store

log = logging.getLogger(__name__)
OUR_SETUP = (40013, 40125, 40164, 41004, -2)  # app id, secret, IP whitelist: retried until fixed


class WeChatSender:
    """Delivers outbox rows of channel "wechat" (staff replies, status and event notices)."""

    channel = CHANNEL

    def __init__(self, api: WeChatApi | None, store: Store, template: Template | None = None, *,
                 clock: Callable[[], datetime]) -> None:
        self.api = api  # None without WECHAT_APP_ID / WECHAT_APP_SECRET: every row is refused
        self.store = store
        self.template = template
        self.clock = clock  # the bot's (services.clock)

    async def send(self, row: OutboxMessage, ticket: Ticket | None) -> Any:
        from bot.delivery import Refused, Sent
        from db.outbox import buttons_of

        api = self.api
        if api is None:
            raise Refused("WECHAT_APP_ID / WECHAT_APP_SECRET are not set: no customer-service messages", False)
        text, choices = numbered([Outbound(row.text, as_buttons(buttons_of(row)))])
        if row.photo:
            log.info("outbox %s: a photo cannot be sent to WeChat; the text goes alone", row.id)
        result: dict[str, Any] = {}
        try:
            for chunk in split_bytes(text) if text else []:
                result = await api.send_text(row.chat_id, chunk)
        except WeChatApiError as exc:
            if exc.errcode != OUT_OF_WINDOW:
                raise _translated(exc) from exc
            await self._out_of_window(row, ticket)
        except WeChatUnavailable as exc:
            raise _translated(exc) from exc
        # the resident answers with a digit; one without choices ends the last one's (a rating
        # question), so that a digit answering a staff question is not a rating
        await remember(self.store, row.chat_id, choices, self.clock(), notice=True)
        return Sent(str(result.get("msgid") or f"wechat-{row.id}"))

    async def _out_of_window(self, row: OutboxMessage, ticket: Ticket | None) -> None:
        """The resident has not written for 48 hours: a template message when there is one; the
        row is held for their next message either way."""
        from bot.delivery import Held

        if self.template is None or row.purpose == "photo":
            raise Held(notified=False)
        try:
            sent = await self.api.send_template(row.chat_id, self.template.template_id,
                                                self.template.data(row, ticket, self.clock()), self.template.url)
        except (WeChatApiError, WeChatUnavailable) as exc:
            if isinstance(exc, WeChatApiError) and exc.errcode in UNREACHABLE:
                raise _translated(exc) from exc
            log.warning("outbox %s: the template message failed (%s): held without it", row.id, exc)
            raise Held(notified=False) from exc
        raise Held(notified=True, message_id=str(sent.get("msgid") or ""))


def _translated(exc: WeChatApiError | WeChatUnavailable) -> Exception:
    from bot.delivery import Refused, RetryLater

    if isinstance(exc, WeChatUnavailable):
        return RetryLater(30.0, str(exc))
    if exc.errcode in UNREACHABLE:
        return Refused(str(exc), True)
    if exc.errcode in BUSY:
        return RetryLater(BUSY[exc.errcode], str(exc))
    if exc.errcode in TOKEN_STALE or exc.errcode in OUR_SETUP:
        return RetryLater(600.0, str(exc))  # our credentials or IP whitelist: retry once fixed
    return Refused(str(exc), False)
