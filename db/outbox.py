"""The outbox: messages written with what caused them, delivered by bot/outbox.py."""
from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import OutboxMessage, utcnow
from handlers.types import Button


def enqueue(session: AsyncSession, channel: str, chat_id: str | int, purpose: str, text: str = "",
            buttons: tuple[tuple[Button, ...], ...] = (), photo: str | None = None,
            ticket_id: int | None = None, reply_to: str | None = None, document: str | None = None) -> OutboxMessage:
    row = OutboxMessage(
        channel=channel, chat_id=str(chat_id), purpose=purpose, text=text, photo=photo, document=document,
        ticket_id=ticket_id,
        reply_to=reply_to, buttons=json.dumps([[[b.label, b.data] for b in row] for row in buttons], ensure_ascii=False),
    )
    session.add(row)
    return row


def buttons_of(row: OutboxMessage) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(Button(label, data) for label, data in r) for r in json.loads(row.buttons or "[]"))


async def due(session: AsyncSession, now: datetime, limit: int = 50, channels: Collection[str] | None = None,
              skip_chats: Collection[str] = ()) -> list[OutboxMessage]:
    """Pending messages whose time has come, oldest first; a chat whose oldest pending message
    is still waiting for a retry sends nothing newer, so every chat receives in order.

    `channels`: only these (the ones a sender exists for); `skip_chats`: chat ids a sender is
    busy with, left out so they do not fill the batch."""
    query = select(OutboxMessage).where(OutboxMessage.state == "pending")
    if channels is not None:
        query = query.where(col(OutboxMessage.channel).in_(list(channels)))
    if skip_chats:
        query = query.where(col(OutboxMessage.chat_id).not_in(list(skip_chats)))
    rows = (await session.exec(query.order_by(OutboxMessage.id).limit(limit * 4))).all()
    blocked: set[tuple[str, str]] = set()
    ready = []
    for row in rows:
        key = (row.channel, row.chat_id)
        if key in blocked:
            continue
        if row.next_attempt_at > now:
            blocked.add(key)
            continue
        ready.append(row)
        if len(ready) >= limit:
            break
    return ready


def mark_sent(row: OutboxMessage, message_id: str | None) -> None:
    row.state, row.sent_at, row.sent_message_id, row.last_error = "sent", utcnow(), message_id, None


def mark_retry(row: OutboxMessage, delay: float, error: str) -> None:
    row.attempts += 1
    row.next_attempt_at = utcnow() + timedelta(seconds=delay)
    row.last_error = error[:512]


def mark_failed(row: OutboxMessage, error: str) -> None:
    row.attempts += 1
    row.state, row.last_error = "failed", error[:512]


async def backlog(session: AsyncSession) -> int:
    return (await session.exec(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "pending")
    )).one()


async def pending_for_ticket(session: AsyncSession, ticket_id: int) -> list[OutboxMessage]:
    return list((await session.exec(
        select(OutboxMessage).where(OutboxMessage.ticket_id == ticket_id, col(OutboxMessage.state) == "pending")
    )).all())
