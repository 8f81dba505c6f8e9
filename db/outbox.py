"""The outbox: messages written with what caused them, delivered by bot/delivery.py.

Every change of a row's state is made here, by a named function (start_sending, mark_sent,
mark_retry, hold, mark_held, hand_over, mark_failed, settle_interrupted, cancel), each checked
against db/delivery_states.py's table of moves; nothing else writes `state`.

Several bot processes may share one PostgreSQL database: a worker `claim`s the rows it is about
to send (a lease: claimed_by, claimed_until), so no row goes out twice, and a crashed worker's
rows come back when the lease is over. On SQLite (one process) the same code runs; the lock
clause is left out there, and SQLite's single writer serialises the claims.
"""
from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, case, func, or_, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.delivery_states import OPEN, CancelReason, State, check, sources
from db.models import OutboxFile, OutboxMessage


class Choice(NamedTuple):
    """A button as the database keeps it (the handlers' Button is made from it by the channels)."""

    label: str
    data: str


Rows = Sequence[Sequence[Any]]  # rows of anything with .label and .data (the handlers' Button)
QUEUED = "outbox queued"  # the session info key enqueue sets


def enqueue(session: AsyncSession, channel: str, chat_id: str | int, purpose: str, text: str = "",
            buttons: Rows = (), photo: str | None = None,
            ticket_id: int | None = None, reply_to: str | None = None, document: str | None = None,
            document_id: int | None = None) -> OutboxMessage:
    row = OutboxMessage(
        channel=channel, chat_id=str(chat_id), purpose=purpose, text=text, photo=photo, document=document,
        document_id=document_id,
        ticket_id=ticket_id,
        reply_to=reply_to, buttons=json.dumps([[[b.label, b.data] for b in row] for row in buttons], ensure_ascii=False),
    )
    session.add(row)
    session.info[QUEUED] = True  # Store.transaction wakes the worker once this commits
    return row


EDIT = "edit"  # the purpose of a row that edits a message already sent instead of sending one


def enqueue_edit(session: AsyncSession, channel: str, chat_id: str | int, message_id: str, text: str,
                 ticket_id: int | None = None, buttons: Rows = ()) -> OutboxMessage:
    """Change the text (and buttons) of message `message_id`, sent before, to `text`: in its
    chat's order, like any message. The row keeps the message's id in `reply_to`."""
    return enqueue(session, channel, chat_id, EDIT, text, buttons=buttons, ticket_id=ticket_id, reply_to=message_id)


OFFICE_ROBOT = ("wecom", "robot")  # the office's WeCom (企业微信) group robot: one chat of its own channel
ASSIGNED = "assigned"  # the purpose of the private message that tells a member a ticket is theirs


def to_office_robot(session: AsyncSession, purpose: str, text: str, ticket_id: int | None = None) -> OutboxMessage:
    """A markdown message for the office's WeCom group robot (bot/channels/wecom_robot.py sends it)."""
    channel, chat = OFFICE_ROBOT
    return enqueue(session, channel, chat, purpose, text, ticket_id=ticket_id)


def to_staff_member(session: AsyncSession, channel: str, user_id: str, text: str, ticket_id: int | None = None) -> OutboxMessage:
    """A private message to one member of staff (their linked account's user id on `channel`)."""
    return enqueue(session, channel, user_id, ASSIGNED, text, ticket_id=ticket_id)


async def attach(session: AsyncSession, content: bytes) -> int:
    """Keep a file to send in the database (any process may send it); its id for enqueue()."""
    file = OutboxFile(content=content)
    session.add(file)
    await session.flush()
    return file.id


async def file_content(session: AsyncSession, file_id: int) -> bytes | None:
    file = await session.get(OutboxFile, file_id)
    return file.content if file is not None else None


def buttons_of(row: OutboxMessage) -> tuple[tuple[Choice, ...], ...]:
    return tuple(tuple(Choice(label, data) for label, data in r) for r in json.loads(row.buttons or "[]"))


APART = ("notice",)  # purposes kept in an order of their own: a notice held till morning holds up no reply
LEASE = timedelta(seconds=60)  # how long a claim holds; a message being sent renews it (bot.delivery)


def _free(now: datetime):
    """No live lease holds the row."""
    return or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) <= now)


async def claim(session: AsyncSession, now: datetime, owner: str, limit: int = 50,
                channels: Collection[str] | None = None, skip_chats: Collection[str] = (),
                lease: timedelta = LEASE) -> list[OutboxMessage]:
    """At most `limit` due messages `owner` may send now, claimed for it until now + lease:
    the oldest open message of every chat whose turn it is (oldest first, up to `limit`
    chats), then what follows them in those chats, oldest first, while there is room.

    Each chat stays in order, across workers: a chat whose oldest open message waits for a
    retry, or is being sent, or is claimed by another worker (lease not over), or is being
    claimed by one right now (locked), sends nothing newer. The database picks each chat's
    oldest open message (so a long backlog in one chat, waiting after a 429, never hides the
    others); the rows are then locked `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has no row
    locks and serialises writers) and marked in the same transaction; of each chat only the
    unbroken run from its oldest open message is kept. `channels` limits it to the channels
    this worker has senders for; `skip_chats` leaves out chats it is sending to.
    """
    rows = (await session.exec(_due_runs(now, limit, channels, skip_chats))).all()
    wanted: dict[tuple[str, str, bool], list[int]] = {}
    for row in rows:  # oldest first: each chat's head, then as much of its run as fits
        wanted.setdefault((row.channel, row.chat_id, row.purpose in APART), []).append(row.id)
    heads = sorted(ids[0] for ids in wanted.values())
    room = limit - len(heads)
    following = sorted(i for ids in wanted.values() for i in ids[1:])[:max(room, 0)]
    taken = set(heads) | set(following)
    wanted = {chat: [i for i in ids if i in taken] for chat, ids in wanted.items()}
    by_id = {row.id: row for row in rows}
    due = {i for i, row in by_id.items() if row.state == State.PENDING and row.next_attempt_at <= now
           and (row.claimed_until is None or row.claimed_until <= now)}  # (the heads are, by the query)
    ids = _runs(wanted.values(), due)
    if not ids:
        return []
    locked = set((await session.exec(
        select(OutboxMessage.id).where(col(OutboxMessage.id).in_(ids), OutboxMessage.state == State.PENDING, _free(now))
        .with_for_update(skip_locked=True)
    )).all())
    chosen = _runs(wanted.values(), locked)
    if not chosen:
        return []
    claimed = set((await session.exec(
        update(OutboxMessage).where(col(OutboxMessage.id).in_(chosen), OutboxMessage.state == State.PENDING, _free(now))
        .values(claimed_by=owner, claimed_until=now + lease).returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )).scalars().all())
    kept = set(_runs(wanted.values(), claimed))
    if claimed - kept:  # SQLite: another connection claimed an older row meanwhile; give these back
        await release(session, claimed - kept, owner)
    for i in kept:  # what the UPDATE wrote, without making the rows dirty
        set_committed_value(by_id[i], "claimed_by", owner)
        set_committed_value(by_id[i], "claimed_until", now + lease)
    return [by_id[i] for i in sorted(kept)]


def _due_runs(now: datetime, limit: int, channels: Collection[str] | None, skip_chats: Collection[str]):
    """The open messages, oldest first, of the (at most `limit`) chats whose oldest open message
    is due and free, at most `limit` of each chat."""
    scope = [col(OutboxMessage.state).in_(OPEN)]
    if channels is not None:
        scope.append(col(OutboxMessage.channel).in_(list(channels)))
    if skip_chats:
        scope.append(col(OutboxMessage.chat_id).not_in(list(skip_chats)))
    apart = case((col(OutboxMessage.purpose).in_(APART), 1), else_=0)
    chat = (OutboxMessage.channel, OutboxMessage.chat_id, apart)  # a chat's notices in an order of their own
    heads = select(func.min(OutboxMessage.id).label("id")).where(*scope).group_by(*chat).subquery()
    due = (select(OutboxMessage.channel, OutboxMessage.chat_id, apart.label("apart")).join(heads, OutboxMessage.id == heads.c.id)
           .where(OutboxMessage.state == State.PENDING, OutboxMessage.next_attempt_at <= now, _free(now))
           .order_by(OutboxMessage.id).limit(limit).subquery())
    ranked = (select(OutboxMessage.id, func.row_number().over(partition_by=chat, order_by=OutboxMessage.id).label("n"))
              .join(due, and_(OutboxMessage.channel == due.c.channel, OutboxMessage.chat_id == due.c.chat_id,
                              apart == due.c.apart))
              .where(*scope).subquery())
    return (select(OutboxMessage).join(ranked, OutboxMessage.id == ranked.c.id).where(ranked.c.n <= limit)
            .order_by(OutboxMessage.id))


def _runs(chats: Iterable[list[int]], available: set[int]) -> list[int]:
    """Of each chat's ids (oldest first), the ones before the first that is not available."""
    out = []
    for ids in chats:
        for i in ids:
            if i not in available:
                break
            out.append(i)
    return out


async def renew(session: AsyncSession, row_id: int, owner: str, now: datetime, lease: timedelta = LEASE) -> bool:
    """Hold the row for `owner` until now + lease, if it is still pending and no other worker
    holds it; False when another worker does (or the row is gone)."""
    result = await session.exec(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.state == State.PENDING,
               or_(OutboxMessage.claimed_by == owner, _free(now)))
        .values(claimed_by=owner, claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def release(session: AsyncSession, row_ids: Collection[int], owner: str) -> None:
    """Give back `owner`'s claims on these rows (a worker that stops before sending them)."""
    if row_ids:
        await session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(list(row_ids)), OutboxMessage.claimed_by == owner)
            .values(claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )


async def release_all(session: AsyncSession) -> None:
    """Give back every claim: for a database only one process uses (SQLite), at its start."""
    await session.exec(
        update(OutboxMessage).where(col(OutboxMessage.claimed_by).is_not(None))
        .values(claimed_by=None, claimed_until=None).execution_options(synchronize_session=False)
    )


def _unclaim(row: OutboxMessage) -> None:
    row.claimed_by = row.claimed_until = None


def _move(row: OutboxMessage, target: State) -> None:
    row.state = check(row.state, target)


def start_sending(row: OutboxMessage) -> None:
    """Committed before the request goes out: if the process dies during it, the row is left
    "sending" and becomes "unsure" (never sent twice, never silently dropped)."""
    _move(row, State.SENDING)


async def settle_interrupted(session: AsyncSession, now: datetime, all_of_them: bool,
                             keep: Collection[int] = ()) -> list[OutboxMessage]:
    """Rows a dead process was sending: maybe delivered, maybe not. They become "unsure" -
    visible, not sent again - and are returned so staff can be told. `all_of_them` for a
    database one process uses (SQLite, at start); otherwise only those whose lease is over
    (a live worker renews the lease of what it is sending), except the rows in `keep`."""
    query = select(OutboxMessage).where(OutboxMessage.state == State.SENDING)
    if not all_of_them:
        query = query.where(_free(now))
    if keep:
        query = query.where(col(OutboxMessage.id).not_in(list(keep)))
    rows = list((await session.exec(query.with_for_update(skip_locked=True))).all())
    for row in rows:
        _move(row, State.UNSURE)
        row.last_error = "the process stopped while sending it"
        _unclaim(row)
        session.add(row)
    return rows


async def extend(session: AsyncSession, row_id: int, owner: str, now: datetime, lease: timedelta = LEASE) -> None:
    """Hold a row `owner` is sending until now + lease (while a send takes long)."""
    await session.exec(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.state == State.SENDING, OutboxMessage.claimed_by == owner)
        .values(claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    )


def mark_sent(row: OutboxMessage, message_id: str | None, now: datetime) -> None:
    _move(row, State.SENT)
    row.sent_at, row.sent_message_id, row.last_error = now, message_id, None
    _unclaim(row)


def mark_retry(row: OutboxMessage, delay: float, error: str, now: datetime) -> None:
    _move(row, State.PENDING)
    row.attempts += 1
    row.next_attempt_at = now + timedelta(seconds=delay)
    row.last_error = error[:512]
    _unclaim(row)  # due again at next_attempt_at, for whichever worker comes first


def hold(row: OutboxMessage, until: datetime) -> None:
    """Not now, and not a failure: due again at `until` (a notice in the quiet hours)."""
    _move(row, State.PENDING)
    row.next_attempt_at = until
    _unclaim(row)


def mark_held(row: OutboxMessage, reason: str, message_id: str | None = None) -> None:
    """Not deliverable until the recipient writes again; `message_id`: what told them meanwhile."""
    _move(row, State.HELD)
    row.last_error, row.sent_message_id = reason[:512], message_id
    _unclaim(row)


async def hand_over(session: AsyncSession, channel: str, chat_id: str, now: datetime) -> int:
    """The recipient wrote: what was held for them is due now, in its order. How many rows."""
    result = await session.exec(
        update(OutboxMessage).where(OutboxMessage.channel == channel, OutboxMessage.chat_id == chat_id,
                                    OutboxMessage.state == State.HELD)
        .values(state=check(State.HELD, State.PENDING), next_attempt_at=now).execution_options(synchronize_session=False))
    if result.rowcount:
        session.info[QUEUED] = True  # wakes the worker once committed
    return result.rowcount


def mark_failed(row: OutboxMessage, error: str) -> None:
    _move(row, State.FAILED)
    row.attempts += 1
    row.last_error = error[:512]
    _unclaim(row)


async def cancel(session: AsyncSession, ids: Collection[int] | Select, reason: CancelReason) -> int:
    """Take back the rows (ids, or a SELECT of ids) that have not gone out yet (pending or
    held; one being sent goes on): they are never sent. How many were cancelled."""
    result = await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids if isinstance(ids, Select) else list(ids)),
               col(OutboxMessage.state).in_(sources(State.CANCELLED)))
        .values(state=State.CANCELLED, last_error=CancelReason(reason), claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False))
    return result.rowcount


async def backlog(session: AsyncSession) -> int:
    return (await session.exec(
        select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.state).in_(OPEN))
    )).one()


async def stuck(session: AsyncSession, now: datetime) -> int:
    """Rows left "sending" whose lease is over: nobody is sending them, and their chat waits
    until a worker settles them (it does, every LEASE / 2)."""
    return (await session.exec(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == State.SENDING, _free(now))
    )).one()


async def oldest_waiting(session: AsyncSession, now: datetime) -> float:
    """Seconds since the oldest message still to be delivered was written (0 when none): a chat
    that does not move shows here. Notices are left out (a broadcast waits for the morning on
    purpose, and takes its time)."""
    oldest = (await session.exec(
        select(func.min(OutboxMessage.created_at)).where(col(OutboxMessage.state).in_(OPEN),
                                                         col(OutboxMessage.purpose).not_in(APART))
    )).one()
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:  # SQLite gives naive UTC
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - oldest).total_seconds())


async def waiting(session: AsyncSession, channel: str, chat_id: str | int, purpose: str) -> bool:
    """Does the chat have an open message of this purpose?"""
    return (await session.exec(
        select(OutboxMessage.id).where(OutboxMessage.channel == channel, OutboxMessage.chat_id == str(chat_id),
                                       OutboxMessage.purpose == purpose, col(OutboxMessage.state).in_(OPEN)).limit(1)
    )).first() is not None
