"""The outbox's sender for WeChat residents (bot/delivery.py): staff replies and status notices
as customer-service messages; their buttons become the resident's numbered choices."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.channels.common import as_buttons, numbered
from bot.channels.wechat_api import BUSY, TOKEN_STALE, UNREACHABLE, WeChatApi, WeChatApiError, WeChatUnavailable
from bot.channels.wechat_choices import remember
from bot.channels.wechat_xml import CHANNEL, split_bytes
from handlers.types import Outbound

if TYPE_CHECKING:
    from db.models import OutboxMessage, Ticket
    from db.store import Store

log = logging.getLogger(__name__)


class WeChatSender:
    """Delivers outbox rows of channel "wechat" (staff replies, status notices) as
    customer-service messages; their buttons become the resident's numbered choices."""

    channel = CHANNEL

    def __init__(self, api: WeChatApi | None, store: Store) -> None:
        self.api = api  # None without WECHAT_APP_ID / WECHAT_APP_SECRET: every row is refused
        self.store = store

    async def send(self, row: OutboxMessage, ticket: Ticket | None) -> Any:
        from bot.delivery import Refused, RetryLater, Sent
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
        except WeChatUnavailable as exc:
            raise RetryLater(30.0) from exc
        except WeChatApiError as exc:
            if exc.errcode in UNREACHABLE:
                raise Refused(str(exc), True) from exc
            if exc.errcode in BUSY:
                raise RetryLater(BUSY[exc.errcode]) from exc
            if exc.errcode in TOKEN_STALE or exc.errcode in (40013, 40125, 40164, 41004, -2):
                raise RetryLater(600.0) from exc  # our credentials or IP whitelist: retry once fixed
            raise Refused(str(exc), False) from exc
        # the resident answers with a digit; one without choices ends the last one's (a rating
        # question), so that a digit answering a staff question is not a rating
        await remember(self.store, row.chat_id, choices, notice=True)
        return Sent(str(result.get("msgid") or f"wechat-{row.id}"))

