"""The numbered choices a WeChat resident was shown, and the button a typed digit stands for.

Kept per context in the database (db/wechat_memory.py), so any process reads the digit: the
last reply's, and the last notice's (a staff message, the rating question) sent after it. A
digit answers the notice only when a notice is the last thing the resident was shown and no
report of theirs is under way: a digit typed for a report step, or after a staff message
without choices, is never a rating.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.channels.common import as_buttons, picked
from db import wechat_memory as memory
from handlers.types import Button

if TYPE_CHECKING:
    from db.store import Store

log = logging.getLogger(__name__)


async def pick(store: Store, openid: str, text: str) -> Button | None:
    """The button a resident typed the number or label of: among the notice's choices when it
    was the last thing they were shown and no report is under way, else among the last reply's."""
    reply, notice, reporting = await memory.shown(store, openid)
    choices = reply if notice is None or reporting else notice
    return picked(text, list(as_buttons([choices])[0]))


async def remember(store: Store, openid: str, choices: Sequence[Button], now: datetime, *, notice: bool) -> None:
    """Keep the choices just shown, for the digit that answers them. What was sent counts as
    sent even when this fails: the resident then types the label, or asks again."""
    try:
        await (memory.remember_notice if notice else memory.remember_reply)(store, openid, choices, now)
    except Exception:
        log.exception("the numbered choices shown to a WeChat resident could not be stored")

