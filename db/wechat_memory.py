"""What the WeChat channel (bot/channels/wechat.py) remembers, kept in the database so that
several processes behind one callback URL agree: the numbered choices each resident was shown,
the (timestamp, nonce) of every callback with a digest of its body, and the reply to each
message with how it went out (so WeChat's retry gets the same answer from any server). Each function is one
short transaction of Core statements: they run for nearly every message."""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite

from db.models import Conversation, Resident, Subscription, Ticket, WeChatChoices, WeChatNonce, WeChatReply
from db.outbox import Choice
from handlers.rules.lifecycle import ENDED

if TYPE_CHECKING:
    from db.store import Store

CHOICES_KEPT = timedelta(days=7)  # a digit typed later than this does not answer them
REPLIES_KEPT = timedelta(minutes=5)  # WeChat retries a message within 15 s
_CHOICES, _NONCE, _REPLY = WeChatChoices.__table__, WeChatNonce.__table__, WeChatReply.__table__
_RESIDENT, _TALK = Resident.__table__, Conversation.__table__


def _insert(store: Store, table):
    """INSERT in the database's own dialect, for its ON CONFLICT clauses (SQLite and PostgreSQL alike)."""
    return (postgresql if store.engine.dialect.name == "postgresql" else sqlite).insert(table)


def _dump(choices: Sequence[Any]) -> str:
    return json.dumps([[button.label, button.data] for button in choices], ensure_ascii=False)


def _load(stored: str) -> tuple[Choice, ...]:
    return tuple(Choice(label, data) for label, data in json.loads(stored))


async def shown(store: Store, openid: str) -> tuple[tuple[Choice, ...], tuple[Choice, ...] | None, bool]:
    """The choices of the last reply to the resident, those of a notice sent after it (None when
    there was none), and whether a report of theirs is under way."""
    reporting = exists().where(_TALK.c.channel == "wechat", _TALK.c.chat_id == openid, _TALK.c.user_id == openid,
                               _TALK.c.dialog == "complaint")
    query = select(_CHOICES.c.reply, _CHOICES.c.notice, reporting).where(_CHOICES.c.openid == openid)
    async with store.engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return (), None, False
    reply, notice, under_way = row
    return _load(reply), None if notice is None else _load(notice), bool(under_way)


async def remember_reply(store: Store, openid: str, choices: Sequence[Any], now: datetime) -> None:
    """A reply was shown: its choices replace the last reply's, and any notice's are past."""
    async with store.engine.begin() as conn:
        if not choices:
            await conn.execute(delete(_CHOICES).where(_CHOICES.c.openid == openid))
            return
        values = {"reply": _dump(choices), "notice": None, "at": now}
        await conn.execute(_insert(store, _CHOICES).values(openid=openid, **values)
                           .on_conflict_do_update(index_elements=[_CHOICES.c.openid], set_=values))


async def remember_notice(store: Store, openid: str, choices: Sequence[Any], now: datetime) -> None:
    """A notice was sent (a staff message, the rating question): its choices, maybe none, replace
    an earlier notice's; the reply's stay."""
    values = {"notice": _dump(choices), "at": now}
    async with store.engine.begin() as conn:
        await conn.execute(_insert(store, _CHOICES).values(openid=openid, reply="[]", **values)
                           .on_conflict_do_update(index_elements=[_CHOICES.c.openid], set_=values))


async def first_use(store: Store, timestamp: int, nonce: str, digest: str) -> bool:
    """Record a callback's (timestamp, nonce); True when it is new, or was seen with the same
    body digest (WeChat retrying), False when it came with another body (a replay)."""
    async with store.engine.begin() as conn:
        await conn.execute(_insert(store, _NONCE).values(timestamp=timestamp, nonce=nonce, body=digest)
                           .on_conflict_do_nothing())
        stored = (await conn.execute(select(_NONCE.c.body).where(
            _NONCE.c.timestamp == timestamp, _NONCE.c.nonce == nonce))).scalar_one()
    return stored == digest


async def keep_reply(store: Store, key: str, chunks: Sequence[str], now: datetime) -> None:
    """The reply to a message (its pieces); the first server's stays."""
    async with store.engine.begin() as conn:
        await conn.execute(_insert(store, _REPLY).values(key=key, chunks=json.dumps(list(chunks), ensure_ascii=False),
                                                         delivery=None, at=now).on_conflict_do_nothing())


async def reply_of(store: Store, key: str) -> tuple[list[str], str | None] | None:
    """The reply kept for a message and how it went out (None: not decided yet), if any."""
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(_REPLY.c.chunks, _REPLY.c.delivery).where(_REPLY.c.key == key))).first()
    return None if row is None else (json.loads(row[0]), row[1])


async def decide_delivery(store: Store, key: str, delivery: str) -> tuple[str, bool]:
    """How the reply goes out (passive, api, none), decided once whichever server asks first:
    the decision that holds, and whether it was this call's (no reply kept: this call's)."""
    async with store.engine.begin() as conn:
        ours = (await conn.execute(update(_REPLY).where(_REPLY.c.key == key, _REPLY.c.delivery.is_(None))
                                   .values(delivery=delivery))).rowcount == 1
        decided = (await conn.execute(select(_REPLY.c.delivery).where(_REPLY.c.key == key))).scalar_one_or_none()
    if decided is None:
        return delivery, True
    return decided, ours


async def unfollowed(store: Store, openid: str, now) -> None:
    """The resident unfollowed the account: nothing reaches them any more (their tickets say so,
    notices skip them) until they follow and write again (Store.reachable_again)."""
    ticket, subscription = Ticket.__table__, Subscription.__table__
    resident = select(_RESIDENT.c.id).where(_RESIDENT.c.channel == "wechat", _RESIDENT.c.user_id == openid)
    async with store.engine.begin() as conn:
        await conn.execute(update(ticket).where(ticket.c.resident_id.in_(resident), ticket.c.chat_id != "",
                                                ticket.c.status.not_in(ENDED)).values(resident_blocked=True))
        await conn.execute(update(subscription).where(subscription.c.resident_id.in_(resident),
                                                      subscription.c.blocked_at.is_(None)).values(blocked_at=now))


async def forget_old(store: Store, oldest_timestamp: int, now: datetime) -> None:
    """Delete the nonces of callbacks older than `oldest_timestamp` (refused by their age
    anyway), replies older than REPLIES_KEPT and choices nobody answered for CHOICES_KEPT."""
    async with store.engine.begin() as conn:
        await conn.execute(delete(_NONCE).where(_NONCE.c.timestamp < oldest_timestamp))
        await conn.execute(delete(_REPLY).where(_REPLY.c.at < now - REPLIES_KEPT))
        await conn.execute(delete(_CHOICES).where(_CHOICES.c.at < now - CHOICES_KEPT))
