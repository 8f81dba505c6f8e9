"""Events the office announces, residents' subscriptions, and the notices that tell them.

An event is stored exactly as staff entered it (times in UTC, entered and shown as Shanghai
wall clock). Publishing it writes one outbox row per subscriber of its area, in the same
transaction, with a Notice row (primary key: event and resident) so nobody gets it twice;
withdrawing it takes back the rows not yet sent. Notices never go out between 21:00 and 8:00
Shanghai time: a row made then is due at 8:00 (its next_attempt_at), and the outbox worker
holds one that falls due in the quiet hours anyway (handlers/rules/quiet_hours.py).
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db import outbox
from db.clock import SHANGHAI, aware
from db.delivery_states import OPEN, CancelReason, State
from db.models import Event, Notice, OutboxMessage, Resident, Subscription
from handlers.rules.quiet_hours import quiet_until

NOTICE = "notice"  # the outbox purpose of an event's notice
WITHDRAWN = CancelReason.WITHDRAWN  # a notice taken back: its event was withdrawn before it went out
STOPPED = CancelReason.STOPPED  # the resident unsubscribed before it went out
EXPIRED = CancelReason.EXPIRED  # held till the resident wrote, and the event was over by then
TIME_FORMAT = "%Y-%m-%d %H:%M"


class EventError(ValueError):
    """Invalid input, said in one line."""


def parse_local(text: str, what: str = "time") -> datetime:
    """"YYYY-MM-DD HH:MM" on the Shanghai wall clock, as an aware datetime."""
    try:
        return datetime.strptime(text.strip(), TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise EventError(f"{what} {text!r} is not in the format YYYY-MM-DD HH:MM (Shanghai time)") from None


def check(topic: str, known_topics: Collection[str], start: datetime, end: datetime | None, now: datetime) -> None:
    """Raise EventError (one line) for an unknown topic, a start in the past or an end before the start."""
    if topic not in known_topics:
        raise EventError(f"unknown topic {topic!r}: use a content entry id, e.g. jobs_job_fairs")
    if start <= now:
        raise EventError(f"the start {start.astimezone(SHANGHAI):{TIME_FORMAT}} is in the past")
    if end is not None and end <= start:
        raise EventError(f"the end {end.astimezone(SHANGHAI):{TIME_FORMAT}} is not after the start "
                         f"{start.astimezone(SHANGHAI):{TIME_FORMAT}}")


def shown_until(event: Event) -> datetime | None:
    return event.show_until or event.end or event.start


def add(session: AsyncSession, created_by: str, **fields) -> Event:
    event = Event(created_by=created_by[:64], **fields)
    session.add(event)
    return event


async def listing(session: AsyncSession, limit: int = 50) -> list[Event]:
    """The newest events, any status."""
    return list((await session.exec(select(Event).where(Event.draft_step.is_(None))
                                    .order_by(col(Event.id).desc()).limit(limit))).all())


async def upcoming(session: AsyncSession, now: datetime, topics: Collection[str] | None = None) -> list[Event]:
    """Published events still shown at `now`, soonest first; of `topics` (entry ids) only, if given."""
    query = select(Event).where(Event.status == "published",
                                func.coalesce(Event.show_until, Event.end, Event.start) > now)
    if topics is not None:
        query = query.where(col(Event.topic).in_(list(topics)))
    return list((await session.exec(query.order_by(Event.start, Event.id))).all())


@dataclass(frozen=True)
class Recipient:
    resident_id: int
    channel: str
    chat_id: str
    language: str | None


async def publish(session: AsyncSession, event: Event, area: str, now: datetime,
                  message: Callable[[str], tuple[str, outbox.Rows]]) -> int:
    """Publish the event and queue its notice for each subscriber of `area` who has none yet:
    `message(lang)` is its text and buttons. A WeChat resident silent for 48 hours is queued
    too: the sender sends a template message or holds the notice till they write, as it does a
    staff reply. Returns how many notices were queued."""
    event.status, event.published_at, event.draft_step = "published", event.published_at or now, None
    session.add(event)
    already = select(Notice.resident_id).where(Notice.event_id == event.id)
    rows = (await session.exec(
        select(Subscription.resident_id, Resident.channel, Resident.user_id, Resident.language)
        .join(Resident, Resident.id == Subscription.resident_id)
        .where(Subscription.topic == area, col(Subscription.stopped_at).is_(None), col(Subscription.blocked_at).is_(None),
               col(Subscription.resident_id).not_in(already))
        .order_by(Subscription.id)
    )).all()
    due = quiet_until(now) or now
    texts: dict[str, tuple[str, outbox.Rows]] = {}
    queued: list[tuple[int, OutboxMessage]] = []
    for resident_id, channel, user_id, language in rows:
        lang = language or ""
        if lang not in texts:
            texts[lang] = message(lang)
        text, buttons = texts[lang]
        row = outbox.enqueue(session, channel, user_id, NOTICE, text, buttons=buttons)
        row.next_attempt_at = due
        queued.append((resident_id, row))
    await session.flush()  # the outbox ids, in one batch
    session.add_all([Notice(event_id=event.id, resident_id=r, outbox_id=row.id) for r, row in queued])
    return len(queued)


async def over(session: AsyncSession, outbox_id: int, now: datetime) -> bool:
    """Is the event of this notice over (no longer shown)? A notice held for weeks till its
    WeChat resident wrote again is not worth sending then."""
    event = (await session.exec(select(Event).join(Notice, Notice.event_id == Event.id)
                                .where(Notice.outbox_id == outbox_id))).first()
    return event is not None and aware(shown_until(event)) <= now


async def withdraw(session: AsyncSession, event: Event) -> int:
    """Withdraw the event; its notices not yet sent are never sent. Returns how many were taken back."""
    event.status = "withdrawn"
    session.add(event)
    return await outbox.cancel(session, select(Notice.outbox_id).where(Notice.event_id == event.id), WITHDRAWN)


async def unsent_notices(session: AsyncSession, resident_id: int) -> list[tuple[int, str]]:
    """(outbox id, the event's topic) of the resident's notices not yet sent: waiting, or held
    till they write (WeChat)."""
    return [(int(i), str(t)) for i, t in (await session.exec(
        select(Notice.outbox_id, Event.topic).join(Event, Event.id == Notice.event_id)
        .join(OutboxMessage, OutboxMessage.id == Notice.outbox_id)
        .where(Notice.resident_id == resident_id, col(OutboxMessage.state).in_((State.PENDING, State.HELD))))).all()]


@dataclass(frozen=True)
class Progress:
    """How an event's notices are getting on."""

    total: int = 0  # notices queued
    sent: int = 0
    waiting: int = 0  # pending or being sent
    held: int = 0  # WeChat residents silent for 48 hours: delivered when they next write
    told: int = 0  # of the held, those a template message told meanwhile
    blocked: int = 0  # the resident blocked the bot
    failed: int = 0  # refused otherwise, or uncertain after a crash
    withdrawn: int = 0
    stopped: int = 0  # the resident unsubscribed before it went out
    expired: int = 0  # held till the event was over: never sent
    skipped: int = 0  # WeChat residents silent for 48 hours, not queued (by versions before held notices)


async def progress(session: AsyncSession, event_id: int) -> Progress:
    told = OutboxMessage.sent_message_id.is_not(None) & (OutboxMessage.sent_message_id != "")
    rows = (await session.exec(
        select(Notice.outcome, OutboxMessage.state, OutboxMessage.last_error, told, func.count())
        .outerjoin(OutboxMessage, OutboxMessage.id == Notice.outbox_id)
        .where(Notice.event_id == event_id)
        .group_by(Notice.outcome, OutboxMessage.state, OutboxMessage.last_error, told)
    )).all()
    counts = dict.fromkeys(Progress.__dataclass_fields__, 0)
    for outcome, state, error, by_template, n in rows:
        if outcome == "skipped_48h":
            counts["skipped"] += n
            continue
        counts["total"] += n
        if outcome == "blocked":
            counts["blocked"] += n
        elif state == State.SENT:
            counts["sent"] += n
        elif state == State.HELD:
            counts["held"] += n
            counts["told"] += n if by_template else 0
        elif state in OPEN:
            counts["waiting"] += n
        elif state == State.CANCELLED and error == STOPPED:
            counts["stopped"] += n
        elif state == State.CANCELLED and error == EXPIRED:
            counts["expired"] += n
        elif state == State.CANCELLED:  # withdrawn, or (rarely) a resident forgotten meanwhile
            counts["withdrawn"] += n
        else:
            counts["failed"] += n
    return Progress(**counts)


# -- subscriptions -----------------------------------------------------------------------------


async def subscribe(session: AsyncSession, resident_id: int, topic: str, now: datetime) -> None:
    found = (await session.exec(select(Subscription).where(Subscription.resident_id == resident_id,
                                                           Subscription.topic == topic))).first()
    if found is None:
        session.add(Subscription(resident_id=resident_id, topic=topic, created_at=now))
        return
    found.stopped_at, found.blocked_at = None, None
    session.add(found)


async def unsubscribe(session: AsyncSession, resident_id: int, topic: str | None, now: datetime) -> int:
    """Stop one topic (or, with None, all); how many were stopped."""
    query = update(Subscription).where(Subscription.resident_id == resident_id, col(Subscription.stopped_at).is_(None))
    if topic is not None:
        query = query.where(Subscription.topic == topic)
    return (await session.exec(query.values(stopped_at=now).execution_options(synchronize_session=False))).rowcount


async def topics_of(session: AsyncSession, resident_id: int) -> list[str]:
    return list((await session.exec(select(Subscription.topic).where(
        Subscription.resident_id == resident_id, col(Subscription.stopped_at).is_(None)).order_by(Subscription.id))).all())


async def seen(session: AsyncSession, resident_id: int) -> None:
    """The resident who had blocked the bot wrote: reachable again."""
    await session.exec(update(Subscription).where(Subscription.resident_id == resident_id)
                       .values(blocked_at=None).execution_options(synchronize_session=False))


async def mark_blocked(session: AsyncSession, outbox_id: int, now: datetime) -> bool:
    """A notice was refused because the resident blocked the bot: recorded, and their
    subscriptions skipped by the next publications (until they write again). False when the
    row was no notice."""
    notice = (await session.exec(select(Notice).where(Notice.outbox_id == outbox_id))).first()
    if notice is None:
        return False
    notice.outcome = "blocked"
    session.add(notice)
    await session.exec(update(Subscription).where(Subscription.resident_id == notice.resident_id)
                       .values(blocked_at=now).execution_options(synchronize_session=False))
    return True


async def forget(session: AsyncSession, resident_id: int) -> None:
    """/forgetme: the resident's subscriptions and notices go (the database's ON DELETE CASCADE
    does the same when the resident row is deleted; this says it out loud)."""
    await session.exec(delete(Notice).where(Notice.resident_id == resident_id))
    await session.exec(delete(Subscription).where(Subscription.resident_id == resident_id))


# -- the weekly export ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EventCounts:
    published: int = 0  # events published in the range
    delivered: int = 0  # notices delivered in the range
    subscribers: tuple[tuple[str, int], ...] = ()  # (area, residents subscribed at its end), by area


async def export_counts(conn, lo: datetime, hi: datetime) -> EventCounts:
    """For the weekly export, [lo, hi): events published, notices delivered, and the active
    subscribers per area at hi. `conn`: a connection or a session (both `execute`)."""
    published = (await conn.execute(select(func.count()).select_from(Event).where(
        Event.published_at >= lo, Event.published_at < hi))).scalar_one()
    per_topic = (await conn.execute(
        select(Subscription.topic, func.count()).where(
            Subscription.created_at < hi, or_(col(Subscription.stopped_at).is_(None), Subscription.stopped_at >= hi))
        .group_by(Subscription.topic).order_by(Subscription.topic))).all()
    delivered = (await conn.execute(
        select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.purpose == NOTICE, OutboxMessage.state == State.SENT,
            OutboxMessage.sent_at >= lo, OutboxMessage.sent_at < hi))).scalar_one()
    return EventCounts(published, delivered, tuple((str(t), int(n)) for t, n in per_topic))


class EventBoard:
    """What handlers read: the upcoming events, from a database the caller opened (the bot's,
    or `ask`'s). A database without the events table (older, or empty) has none. Every answer
    asks, so the list is read at most every FRESH seconds (and again at once after this process
    published or withdrew one: `stale`); another process's change shows within FRESH seconds."""

    FRESH = 5.0

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._events: list[Event] = []
        self._read_at: float | None = None  # monotonic time of the last read

    def stale(self) -> None:
        self._read_at = None

    async def upcoming(self, now: datetime, topics: Sequence[str] | None = None) -> list[Event]:
        import time as clock

        if self._read_at is None or clock.monotonic() - self._read_at > self.FRESH:
            self._events = await self._read(now)
            self._read_at = clock.monotonic()
        return [e for e in self._events if aware(shown_until(e)) > now and (topics is None or e.topic in topics)]

    async def _read(self, now: datetime) -> list[Event]:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        from db.turn import CURRENT

        try:
            if (turn := CURRENT.get()) is not None:  # inside a turn: its session (SQLite has one connection)
                async with turn.begin_nested():  # a database without the table fails this savepoint, not the turn
                    return await upcoming(turn, now)
            async with AsyncSession(self.engine, expire_on_commit=False) as session:
                return await upcoming(session, now)
        except (OperationalError, ProgrammingError):  # no such table
            return []
