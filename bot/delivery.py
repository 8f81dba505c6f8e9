"""The outbox worker: delivers the `outboxmessage` rows, whatever the channel.

Every message that must leave later (a ticket's card and photos for the moderation chat, a
staff reply or a status notice for a resident, a follow-up, an alert, a chase) is a row written
in the transaction that caused it (handlers/notify.py). This worker sends them:

- oldest first, and each chat strictly in order: a chat whose message waits for a retry sends
  nothing newer (db.outbox.claim), and a round stops for a chat at its first transient failure;
- chats side by side, so a rate-limited moderation chat does not hold up a resident's reply;
- the outcome of each message in its own short transaction: sent (and, for the moderation
  chat, remembered as a message of its ticket, so a staff reply to it reaches the resident),
  retried later (network error, 5xx, 429: after `retry_after`, else 1, 2, 4 ... 300 s), held
  (WeChat's 48 hours), or failed for good (the platform refuses it). What an outcome means for a
  ticket or an event (a resident who blocked the bot, a reply not delivered: staff told) is not
  this module's business: handlers/delivery_outcomes.py declares hooks per state, called in the
  transaction that records the outcome. The states and their moves: db/delivery_states.py.

Delivery is at most once: a row is marked "sending" before its request goes out, so a message
whose send a crash interrupted is never sent again after the restart; it becomes "unsure" and
staff are told, to check and resend by hand (see below).

Nothing stays stuck: a row is marked "sending" before its request goes out, and the lease on it
is renewed while the send takes long; the outcome is written with a few retries, and if the
database still refuses, kept and written again at every round until it takes it. Every LEASE / 2
the worker settles rows left "sending" whose lease is over (a process that died on PostgreSQL,
a status write that never got through) as "unsure" and tells staff, so their chat goes on.

Several workers (bot processes) may share one PostgreSQL database: each claims the rows it is
about to send (db.outbox.claim: FOR UPDATE SKIP LOCKED, a lease of LEASE seconds), checks before
each send that the row is still its own (renewing the lease), and gives back what it did not
send. So a message goes out once, each chat in order across workers, and the rows of a worker
that crashed come back when its lease is over.

Channels plug in a `Sender` (bot/channels/telegram_outbox.py for Telegram).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Protocol

from db import outbox
from db.delivery_states import CancelReason, ForbiddenMove, Outcome, State
from db.models import OutboxMessage, Ticket
from handlers import delivery_outcomes
from handlers.delivery_outcomes import HELD_REASON, Hook, Report
from handlers.services import Services

if TYPE_CHECKING:
    from db.store import Session, Store

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0  # seconds: the longest wait between two attempts without a retry_after
BATCH = 50  # rows read per round
LANES = 40  # chats sent to at once: enough to keep Telegram's 30 a second busy, few enough that a
# crash leaves few rows "sending" (a broadcast to thousands is one row per chat)
STOP_GRACE = 5.0  # seconds a chat may take to finish its current message when the worker stops
ERROR_PAUSE = 5.0  # seconds a chat rests after the database failed to record an outcome
MAX_ATTEMPTS = 5  # attempts of a message that fails for a reason of its own (1+2+4+8 s apart), then it is failed
WRITE_RETRIES = (0.2, 1.0, 3.0)  # seconds between the attempts to record an outcome, before it waits for the next round


@dataclass(frozen=True)
class Sent:
    """What the channel says about a delivered message: its id, and the forum topic it went
    into when the sender created one (or had to create a new one) for the ticket."""

    message_id: str
    thread_id: str | None = None


class RetryLater(Exception):  # noqa: N818 - reads as what the worker should do
    """A failure worth trying again, after `retry_after` seconds if given. `transient` (a rate
    limit, an outage, our own credentials): tried for as long as it takes; otherwise (something
    about this message) at most MAX_ATTEMPTS times, so it cannot hold up its chat for good."""

    def __init__(self, retry_after: float | None = None, reason: str = "", transient: bool = True) -> None:
        super().__init__(reason or "transient failure")
        self.retry_after = retry_after
        self.reason = reason or "transient failure"
        self.transient = transient


class Refused(Exception):  # noqa: N818
    """The platform refuses the message for good. `blocked`: the recipient blocked the bot or
    is gone, so nothing will reach them."""

    def __init__(self, reason: str, blocked: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.blocked = blocked


class Held(Exception):  # noqa: N818
    """The recipient cannot get it now, but will when they next write (WeChat's 48 hours): the
    row waits, holding up nothing, until the channel hands it over. `notified`: they were told
    meanwhile that there is a message for them (a WeChat template message, `message_id`)."""

    def __init__(self, notified: bool, message_id: str | None = None) -> None:
        super().__init__(HELD_REASON)
        self.notified = notified
        self.message_id = message_id


class Sender(Protocol):
    """Delivers one outbox row on one channel; raises RetryLater or Refused when it cannot."""

    async def send(self, row: OutboxMessage, ticket: Ticket | None) -> Sent: ...


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: 1, 2, 4, ... at most 300."""
    return min(2.0 ** attempts, MAX_BACKOFF)


ChatKey = tuple[str, str]  # (channel, chat id)


class OutboxWorker:
    def __init__(self, store: Store, senders: Mapping[str, Sender], services: Services, batch: int = BATCH,
                 lease: timedelta = outbox.LEASE, lanes: int = LANES,
                 hooks: Mapping[State, Sequence[Hook]] = delivery_outcomes.HOOKS,
                 not_before: Callable[[OutboxMessage, datetime], datetime | None] = delivery_outcomes.not_before,
                 expired: Callable[[Session, OutboxMessage, datetime], Awaitable[bool]] = delivery_outcomes.expired,
                 ) -> None:
        self.store = store
        self.senders = dict(senders)
        self.services = services
        self.hooks = hooks  # state -> what a row's move to it means beyond the row (a ticket, an event)
        self.not_before = not_before  # when a due row must wait all the same (a notice in the quiet hours)
        self.expired = expired  # a due row no longer worth sending: cancelled instead
        self.batch = batch
        self.lanes = lanes
        self.lease = lease
        self.owner = f"{os.getpid()}-{secrets.token_hex(6)}"  # this worker, in the rows it claims
        self._next_retry: float | None = None  # monotonic time of the earliest retry scheduled
        self._next_sweep = 0.0  # monotonic time to look for rows left "sending" again
        self._unrecorded: dict[int, Callable[[], Awaitable[None]]] = {}  # row id -> the write of its outcome

    def _now(self):
        return self.services.clock()  # a test may move the clock (quiet hours)

    # -- the loop ----------------------------------------------------------------------------

    async def run_once(self) -> int:
        """One round: every chat's due messages, chats side by side, each chat in order.
        Returns how many messages were delivered."""
        await self._catch_up(sweep=True)
        batches = await self._due_by_chat(skip=())
        results = await asyncio.gather(*(self._deliver_chat(rows) for rows in batches.values()))
        return sum(results)

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, idle: float = 1.0) -> None:
        """Deliver until `stop` is set. Each chat with due messages gets a lane (a task sending
        them in order); the loop looks for more when a lane ends, when `wake` is set (a handler
        queued something), when a retry falls due, or after `idle` seconds."""
        lanes: dict[ChatKey, asyncio.Task[int]] = {}
        halt = asyncio.Event()  # set on stop: lanes finish the message they are sending, then end
        await self._forget_a_previous_run()
        try:
            while not stop.is_set():
                wake.clear()
                lanes = {key: lane for key, lane in lanes.items() if not lane.done()}
                await self._catch_up(sweep=time.monotonic() >= self._next_sweep)
                try:
                    room = min(self.batch, self.lanes - len(lanes))
                    for key, rows in (await self._due_by_chat(skip=lanes, limit=room) if room > 0 else {}).items():
                        lanes[key] = asyncio.create_task(self._deliver_chat(rows, halt), name=f"outbox {key[0]}:{key[1]}")
                except Exception:
                    log.exception("outbox: could not read the due messages")
                await self._pause(stop, wake, idle, lanes.values())
        finally:
            halt.set()
            if lanes:
                _, late = await asyncio.wait(lanes.values(), timeout=STOP_GRACE)
                for lane in late:
                    lane.cancel()
                await asyncio.gather(*lanes.values(), return_exceptions=True)

    async def _forget_a_previous_run(self) -> None:
        """SQLite serves one process: claims found at start are those of this bot before a crash,
        to be sent now rather than after their lease, and messages it was sending when it died
        are settled as "unsure". (On PostgreSQL claims may be another live process's: only those
        whose lease is over are settled.)"""
        single = self.store.engine.dialect.name == "sqlite"
        try:
            async with self.store.transaction() as session:
                if single:
                    await outbox.release_all(session)
                await self._settle_interrupted(session, all_of_them=single)
        except Exception:
            log.exception("outbox: could not settle the messages of a previous run")

    async def _catch_up(self, sweep: bool) -> None:
        """Write the outcomes the database refused before; with `sweep`, settle the rows left
        "sending" whose lease is over (whoever was sending them is gone)."""
        for row_id, write in list(self._unrecorded.items()):
            try:
                await write()
            except Exception as error:  # noqa: BLE001 - still refused: next round
                log.debug("outbox: the outcome of message %s is still not recorded: %s", row_id, error)
                return
            log.warning("outbox: the outcome of message %s is recorded at last", row_id)
            del self._unrecorded[row_id]
        if not sweep:
            return
        self._next_sweep = time.monotonic() + self.lease.total_seconds() / 2
        try:
            async with self.store.transaction() as session:
                await self._settle_interrupted(session, all_of_them=False)
        except Exception:
            log.exception("outbox: could not settle the messages left being sent")

    async def _settle_interrupted(self, session, all_of_them: bool) -> None:
        for row in await outbox.settle_interrupted(session, self._now(), all_of_them, keep=self._unrecorded.keys()):
            log.warning("outbox: message %s to %s:%s may not have been delivered (stopped while sending)",
                        row.id, row.channel, row.chat_id)
            await self._after(session, Report(row))

    async def _after(self, session, report: Report) -> None:
        """The hooks of the state the row has just moved to."""
        for hook in self.hooks.get(State(report.row.state), ()):
            await hook(session, self.services, report)

    async def _pause(self, stop: asyncio.Event, wake: asyncio.Event, idle: float,
                     lanes: Iterable[asyncio.Task[int]]) -> None:
        timeout = idle
        if self._next_retry is not None:  # wake up when the earliest retry falls due
            timeout = max(0.0, min(idle, self._next_retry - time.monotonic()))
            if timeout == 0.0:
                self._next_retry = None
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait([*waiters, *lanes], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _due_by_chat(self, skip: Iterable[ChatKey], limit: int | None = None) -> dict[ChatKey, list[OutboxMessage]]:
        skip = set(skip)
        async with self.store.transaction() as session:
            rows = await outbox.claim(session, self._now(), self.owner, limit or self.batch, channels=self.senders.keys(),
                                      skip_chats={chat for _, chat in skip}, lease=self.lease)
        batches: dict[ChatKey, list[OutboxMessage]] = {}
        for row in rows:
            if (row.channel, row.chat_id) not in skip:
                batches.setdefault((row.channel, row.chat_id), []).append(row)
        return batches

    async def _deliver_chat(self, rows: list[OutboxMessage], halt: asyncio.Event | None = None) -> int:
        """One chat's messages, in order, until the first one that has to wait (or that another
        worker holds); the claims on the ones left are given back."""
        delivered = 0
        done = 0
        try:
            for row in rows:
                if halt is not None and halt.is_set():
                    break
                try:
                    outcome = await self.deliver(row)
                except Exception:
                    log.exception("outbox: message %s to %s:%s could not be recorded", row.id, row.channel, row.chat_id)
                    if halt is not None:  # rest a little rather than try again at once
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(halt.wait(), ERROR_PAUSE)
                    break
                done += 1
                if outcome == Outcome.SENT:
                    delivered += 1
                elif outcome in (Outcome.RETRY, Outcome.TAKEN, Outcome.UNRECORDED):
                    break
        finally:
            await self._release(rows[done:])
        return delivered

    async def _release(self, rows: list[OutboxMessage]) -> None:
        if not rows:
            return
        try:
            async with self.store.transaction() as session:
                await outbox.release(session, [row.id for row in rows], self.owner)
        except Exception:  # they come back when the lease is over
            log.exception("outbox: could not give back the claims on %d messages", len(rows))

    # -- one message ------------------------------------------------------------------------

    async def deliver(self, row: OutboxMessage) -> Outcome:
        """Send one row and record the outcome (db.delivery_states.Outcome)."""
        async with self.store.transaction() as session:
            row = await session.get(OutboxMessage, row.id)
            if row is None or row.state != State.PENDING:
                return Outcome.GONE  # e.g. cancelled by /forgetme meanwhile
            now = self._now()
            if await self.expired(session, row, now):  # e.g. a notice held for weeks, its event over
                await outbox.cancel(session, [row.id], CancelReason.EXPIRED)
                return Outcome.GONE
            if (later := self.not_before(row, now)) is not None:
                outbox.hold(row, later)
                session.add(row)
                return Outcome.RETRY
            if row.claimed_by != self.owner or row.claimed_until is None or row.claimed_until - now < self.lease / 2:
                if not await outbox.renew(session, row.id, self.owner, now, self.lease):  # ours for a whole lease, or not at all
                    return Outcome.TAKEN
                await session.refresh(row)
            outbox.start_sending(row)
            session.add(row)
            # the senders address a ticket's forum topic (Telegram) or its resident
            ticket = await session.get(Ticket, row.ticket_id) if row.ticket_id is not None else None
        async with self._holding(row):
            outcome, write = await self._send(row, ticket)
            return outcome if await self._record(row, write) else Outcome.UNRECORDED

    async def _send(self, row: OutboxMessage, ticket: Ticket | None) -> tuple[Outcome, Callable[[], Awaitable[None]]]:
        """Send the row; the outcome, and the write that records it."""
        try:
            sent = await self.senders[row.channel].send(row, ticket)
        except RetryLater as error:
            if not error.transient and row.attempts + 1 >= MAX_ATTEMPTS:
                return self._poison(row, error.reason)
            delay = error.retry_after if error.retry_after is not None else backoff(row.attempts)
            log.warning("outbox: message %s to %s:%s waits %.1f s: %s", row.id, row.channel, row.chat_id,
                        delay, error.reason)
            return Outcome.RETRY, partial(self._record_retry, row, delay, error.reason)
        except Refused as error:
            log.warning("outbox: message %s to %s:%s refused: %s", row.id, row.channel, row.chat_id, error.reason)
            return Outcome.FAILED, partial(self._write, row, outbox.mark_failed, error.reason, report=partial(
                Report, reason=error.reason, blocked=error.blocked))
        except Held as held:
            log.info("outbox: message %s to %s:%s held till they write (%s)", row.id, row.channel, row.chat_id,
                     "a template message told them" if held.notified else "not told")
            return Outcome.HELD, partial(self._write, row, outbox.mark_held, str(held), held.message_id,
                                         report=partial(Report, notified=held.notified))
        except Exception as error:  # a bug in a sender, or a message it cannot make: retry, loudly, a few times
            log.exception("outbox: sending message %s to %s:%s failed", row.id, row.channel, row.chat_id)
            reason = f"{type(error).__name__}: {error}"
            if row.attempts + 1 >= MAX_ATTEMPTS:
                return self._poison(row, reason)
            return Outcome.RETRY, partial(self._record_retry, row, backoff(row.attempts), reason)
        return Outcome.SENT, partial(self._record_sent, row, sent)

    def _poison(self, row: OutboxMessage, reason: str) -> tuple[Outcome, Callable[[], Awaitable[None]]]:
        """A message that failed MAX_ATTEMPTS times for a reason of its own: failed (the hooks tell
        staff), and its chat goes on with the next one."""
        log.error("outbox: message %s to %s:%s failed %d times, given up: %s", row.id, row.channel, row.chat_id,
                  MAX_ATTEMPTS, reason)
        reason = f"gave up after {MAX_ATTEMPTS} attempts: {reason}"
        return Outcome.FAILED, partial(self._write, row, outbox.mark_failed, reason,
                                       report=partial(Report, reason=reason, gave_up=True))

    async def _record(self, row: OutboxMessage, write: Callable[[], Awaitable[None]]) -> bool:
        """Write an outcome, trying again a few times; if the database still refuses, the write
        is kept for the next rounds (the row stays "sending", holding its chat, meanwhile)."""
        for pause in (*WRITE_RETRIES, None):
            try:
                await write()
                return True
            except Exception:
                if pause is None:
                    break
                log.warning("outbox: recording the outcome of message %s failed; again in %.1f s", row.id, pause,
                            exc_info=True)
                await asyncio.sleep(pause)
        log.exception("outbox: the outcome of message %s could not be recorded; kept for the next rounds", row.id)
        self._unrecorded[row.id] = write
        return False

    @contextlib.asynccontextmanager
    async def _holding(self, row: OutboxMessage) -> AsyncIterator[None]:
        """Renew the lease on a row being sent while its send (and its record) take long, so
        no worker settles it as interrupted meanwhile."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.lease.total_seconds() / 3)
                try:
                    async with self.store.transaction() as session:
                        await outbox.extend(session, row.id, self.owner, self._now(), self.lease)
                except Exception:  # noqa: BLE001 - the next beat tries again
                    log.warning("outbox: could not renew the lease on message %s", row.id, exc_info=True)

        beat = asyncio.create_task(renew(), name=f"outbox lease {row.id}")
        try:
            yield
        finally:
            beat.cancel()

    async def _write(self, row: OutboxMessage, mark, *args, report: Callable[..., Report] | None = None) -> OutboxMessage:
        """Move the stored row with one of db/outbox.py's mark_* functions, and run the hooks of
        its new state (`report` makes their Report of it), in one transaction. A row that can no
        longer make that move (another worker settled it meanwhile) is left as it is."""
        async with self.store.transaction() as session:
            stored = await session.get(OutboxMessage, row.id)
            if stored is None:
                return row
            try:
                mark(stored, *args)
            except ForbiddenMove as error:
                log.warning("outbox: message %s: %s", row.id, error)
                return stored
            session.add(stored)
            if report is not None:
                await self._after(session, report(stored))
            return stored

    async def _record_sent(self, row: OutboxMessage, sent: Sent) -> None:
        report = partial(Report, message_id=sent.message_id, thread_id=sent.thread_id,
                         was_held=row.last_error == HELD_REASON)
        try:
            await self._write(row, outbox.mark_sent, sent.message_id, self._now(), report=report)
        except Exception:  # it went out: whatever else fails, it must not go out twice
            log.exception("outbox: message %s was sent, but recording what it belongs to failed", row.id)
            await self._write(row, outbox.mark_sent, sent.message_id, self._now())

    async def _record_retry(self, row: OutboxMessage, delay: float, reason: str) -> None:
        stored = await self._write(row, outbox.mark_retry, delay, reason, self._now())
        row.attempts = stored.attempts
        at = time.monotonic() + delay
        self._next_retry = at if self._next_retry is None else min(self._next_retry, at)
