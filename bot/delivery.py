"""The outbox worker: delivers the `outboxmessage` rows, whatever the channel.

Every message that must leave later (a ticket's card and photos for the moderation chat, a
staff reply or a status notice for a resident, a follow-up, an alert, a chase) is a row written
in the transaction that caused it (handlers/notify.py). This worker sends them:

- oldest first, and each chat strictly in order: a chat whose message waits for a retry sends
  nothing newer (db.outbox.claim), and a round stops for a chat at its first transient failure;
- chats side by side, so a rate-limited moderation chat does not hold up a resident's reply;
- the outcome of each message in its own short transaction: sent (and, for the moderation
  chat, remembered as a message of its ticket, so a staff reply to it reaches the resident),
  retried later (network error, 5xx, 429: after `retry_after`, else 1, 2, 4 ... 300 s), or
  failed for good (Telegram refuses it). A resident who blocked the bot is marked on the
  ticket, and the staff get an alert.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Protocol

from db import alerts, events, outbox, tickets
from db.models import OutboxMessage, Ticket
from handlers import notify
from handlers.masking import mask_text
from handlers.services import Services
from handlers.types import plain_text

if TYPE_CHECKING:
    from db.store import Store

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


HELD_REASON = "the recipient has not written for 48 hours"


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
                 lease: timedelta = outbox.LEASE, lanes: int = LANES) -> None:
        self.store = store
        self.senders = dict(senders)
        self.services = services
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
            await self._tell_staff_unsure(session, row)

    async def _tell_staff_unsure(self, session, row: OutboxMessage) -> None:
        """A message that may or may not have gone out before a crash is not sent again (no
        resident gets a reply twice); staff are told, so they can check and resend."""
        log.warning("outbox: message %s to %s:%s may not have been delivered (stopped while sending)",
                    row.id, row.channel, row.chat_id)
        ticket = await session.get(Ticket, row.ticket_id) if row.ticket_id is not None else None
        if ticket is None:
            return
        what = "工单卡片" if row.purpose == "card" else "发给居民的消息" if _to_resident(row, ticket) else "一条消息"
        excerpt = f":{plain_text(row.text)[:80]}" if row.text.strip() else ""
        message = f"系统重启时,{what}正在发送,不能确定是否送达{excerpt}。请用 /ticket {ticket.id} 核对,必要时重发。"
        notify.to_staff(session, self.services, ticket, "alert",
                        self.services.texts.render("staff_alert", "zh", ticket=ticket, message=message))

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
                if outcome == "sent":
                    delivered += 1
                elif outcome in ("retry", "taken", "unrecorded"):
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

    async def deliver(self, row: OutboxMessage) -> str:
        """Send one row and record the outcome: "sent", "retry", "failed", "held" (or "gone": no
        longer pending, e.g. withdrawn by /forgetme meanwhile; "taken": another worker holds it;
        "unrecorded": the database would not take the outcome, written again at the next rounds)."""
        async with self.store.transaction() as session:
            row = await session.get(OutboxMessage, row.id)
            if row is None or row.state != "pending":
                return "gone"
            now = self._now()
            if row.purpose == events.NOTICE and row.last_error == HELD_REASON and await events.over(session, row.id, now):
                outbox.mark_failed(row, events.OVER)  # held till its resident wrote, and the event is over meanwhile
                session.add(row)
                return "failed"
            if row.purpose == events.NOTICE and (morning := events.quiet_until(now)) is not None:
                outbox.hold(row, morning)  # never between 21:00 and 8:00: a broadcast that runs late goes on at 8
                session.add(row)
                return "retry"
            if row.claimed_by != self.owner or row.claimed_until is None or row.claimed_until - now < self.lease / 2:
                if not await outbox.renew(session, row.id, self.owner, now, self.lease):  # ours for a whole lease, or not at all
                    return "taken"
                await session.refresh(row)
            outbox.start_sending(row)
            session.add(row)
            ticket = await session.get(Ticket, row.ticket_id) if row.ticket_id is not None else None
        async with self._holding(row):
            outcome, write = await self._send(row, ticket)
            return outcome if await self._record(row, write) else "unrecorded"

    async def _send(self, row: OutboxMessage, ticket: Ticket | None) -> tuple[str, Callable[[], Awaitable[None]]]:
        """Send the row; the outcome, and the write that records it."""
        try:
            sent = await self.senders[row.channel].send(row, ticket)
        except RetryLater as error:
            if not error.transient and row.attempts + 1 >= MAX_ATTEMPTS:
                return self._poison(row, ticket, error.reason)
            delay = error.retry_after if error.retry_after is not None else backoff(row.attempts)
            log.warning("outbox: message %s to %s:%s waits %.1f s: %s", row.id, row.channel, row.chat_id,
                        delay, error.reason)
            return "retry", partial(self._record_retry, row, delay, error.reason)
        except Refused as error:
            log.warning("outbox: message %s to %s:%s refused: %s", row.id, row.channel, row.chat_id, error.reason)
            return "failed", partial(self._record_refusal, row, ticket, error)
        except Held as held:
            log.info("outbox: message %s to %s:%s held till they write (%s)", row.id, row.channel, row.chat_id,
                     "a template message told them" if held.notified else "not told")
            return "held", partial(self._record_held, row, ticket, held)
        except Exception as error:  # a bug in a sender, or a message it cannot make: retry, loudly, a few times
            log.exception("outbox: sending message %s to %s:%s failed", row.id, row.channel, row.chat_id)
            reason = f"{type(error).__name__}: {error}"
            if row.attempts + 1 >= MAX_ATTEMPTS:
                return self._poison(row, ticket, reason)
            return "retry", partial(self._record_retry, row, backoff(row.attempts), reason)
        return "sent", partial(self._record_delivery, row, ticket, sent)

    def _poison(self, row: OutboxMessage, ticket: Ticket | None, reason: str) -> tuple[str, Callable[[], Awaitable[None]]]:
        """A message that failed MAX_ATTEMPTS times for a reason of its own: failed, staff told,
        and its chat goes on with the next one."""
        log.error("outbox: message %s to %s:%s failed %d times, given up: %s", row.id, row.channel, row.chat_id,
                  MAX_ATTEMPTS, reason)
        return "failed", partial(self._record_poison, row, ticket, f"gave up after {MAX_ATTEMPTS} attempts: {reason}")

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

    async def _record_delivery(self, row: OutboxMessage, ticket: Ticket | None, sent: Sent) -> None:
        try:
            await self._record_sent(row, ticket, sent)
        except Exception:  # it went out: whatever else fails, it must not go out twice
            log.exception("outbox: message %s was sent, but recording what it belongs to failed", row.id)
            async with self.store.transaction() as session:
                await _mark(session, row, outbox.mark_sent, sent.message_id)

    def _is_moderation(self, row: OutboxMessage) -> bool:
        rules = self.services.tickets
        return row.channel == rules.moderation_channel and row.chat_id == rules.moderation_chat

    async def _record_sent(self, row: OutboxMessage, ticket: Ticket | None, sent: Sent) -> None:
        async with self.store.transaction() as session:
            await _mark(session, row, outbox.mark_sent, sent.message_id)
            if ticket is not None and ticket.undelivered and row.last_error == HELD_REASON and _to_resident(row, ticket):
                fresh = await session.get(Ticket, ticket.id)  # what was held reached them at last
                fresh.undelivered = False
                session.add(fresh)
                await tickets.add_event(session, fresh, "system", "delivered", self.services.texts.render(
                    "staff_undelivered", "zh", what="handed", ticket=fresh), public=False)
            if ticket is not None and self._is_moderation(row):
                await tickets.remember_relay(session, row.chat_id, sent.message_id, ticket.id)
                fresh = await session.get(Ticket, ticket.id)
                if row.purpose == "card":
                    fresh.card_message_id = sent.message_id
                if sent.thread_id is not None and sent.thread_id != fresh.thread_id:
                    fresh.thread_id = sent.thread_id
                session.add(fresh)

    async def _record_retry(self, row: OutboxMessage, delay: float, reason: str) -> None:
        async with self.store.transaction() as session:
            stored = await _mark(session, row, outbox.mark_retry, delay, reason)
        row.attempts = stored.attempts
        at = time.monotonic() + delay
        self._next_retry = at if self._next_retry is None else min(self._next_retry, at)

    async def _record_poison(self, row: OutboxMessage, ticket: Ticket | None, reason: str) -> None:
        """Failed, and staff told: on the console's alert banner, in the moderation chat (when the
        message was for it, the note comes after it), on the ticket when it has one."""
        async with self.store.transaction() as session:
            await _mark(session, row, outbox.mark_failed, reason)
            if row.purpose == "alert":
                return  # an alert about an alert that failed would fail alike
            fresh = await session.get(Ticket, ticket.id) if ticket is not None else None
            if fresh is not None and _to_resident(row, fresh):
                await self._undelivered(session, fresh, "poison")
            message = self.services.texts.render("staff_undelivered", "zh", what="poison", row=row, ticket=fresh,
                                                 excerpt=plain_text(row.text)[:80], reason=reason)
            rules = self.services.tickets
            # on the console's alert banner whatever the channels (the moderation chat may be what fails)
            alerts.record(session, row.channel, ["undelivered"], mask_text(plain_text(message)))
            if rules.moderation_chat is not None:
                outbox.enqueue(session, rules.moderation_channel, rules.moderation_chat, "alert", message,
                               ticket_id=fresh.id if fresh is not None else None)

    async def _record_held(self, row: OutboxMessage, ticket: Ticket | None, held: Held) -> None:
        """Held for the recipient's next message. Told by a template message: a line in the
        ticket's history. Not told: the ticket shows it was not delivered, and staff are told."""
        async with self.store.transaction() as session:
            await _mark(session, row, outbox.mark_held, str(held), held.message_id)
            fresh = await session.get(Ticket, ticket.id) if ticket is not None else None
            if fresh is None or not _to_resident(row, fresh):
                return
            if held.notified:
                note = self.services.texts.render("staff_undelivered", "zh", what="template", ticket=fresh)
                await tickets.add_event(session, fresh, "system", "template", note, public=False)
                return
            if fresh.undelivered:
                return  # staff know already: once, not for each message held behind the first
            await self._undelivered(session, fresh, "held")
            notify.to_staff(session, self.services, fresh, "alert", self.services.texts.render(
                "staff_undelivered", "zh", what="held", ticket=fresh))

    async def _undelivered(self, session, ticket: Ticket, what: str) -> None:
        """The ticket shows that a message to its resident did not reach them (its history, the console)."""
        note = self.services.texts.render("staff_undelivered", "zh", what=what, ticket=ticket, history=True)
        ticket.undelivered = True
        session.add(ticket)
        await tickets.add_event(session, ticket, "system", "undelivered", note[:4096], public=False)

    async def _record_refusal(self, row: OutboxMessage, ticket: Ticket | None, error: Refused) -> None:
        async with self.store.transaction() as session:
            await _mark(session, row, outbox.mark_failed, error.reason)
            if error.blocked and row.purpose == events.NOTICE:  # their next notices are not even queued
                await events.mark_blocked(session, row.id, self._now())
            if ticket is not None and not error.blocked and _to_resident(row, ticket):
                fresh = await session.get(Ticket, ticket.id)  # refused: not answered, whatever staff sent
                if not fresh.undelivered:
                    await self._undelivered(session, fresh, "refused")
                    notify.to_staff(session, self.services, fresh, "alert", self.services.texts.render(
                        "staff_undelivered", "zh", what="refused", ticket=fresh, reason=error.reason))
                return
            if not (error.blocked and ticket is not None and _to_resident(row, ticket)):
                if self._is_moderation(row):
                    log.error("outbox: the moderation chat refused message %s: %s", row.id, error.reason)
                return
            fresh = await session.get(Ticket, ticket.id)
            if fresh.resident_blocked:
                return  # staff know already
            fresh.resident_blocked = True
            session.add(fresh)
            await tickets.add_event(session, fresh, "system", "blocked", f"消息无法送达居民:{error.reason}"[:4096],
                                    public=False)
            message = "居民已屏蔽本机器人(或已注销账号),答复和通知都无法送达。"
            if fresh.phone:
                message += "如需联系,请拨打工单里留的电话。"
            notify.to_staff(session, self.services, fresh, "alert",
                            self.services.texts.render("staff_alert", "zh", ticket=fresh, message=message))


def _to_resident(row: OutboxMessage, ticket: Ticket) -> bool:
    return row.channel == ticket.channel and row.chat_id == ticket.chat_id


async def _mark(session, row: OutboxMessage, mark, *args) -> OutboxMessage:
    """The row as stored, changed by one of db/outbox.py's mark_* functions, to be saved with the session."""
    stored = await session.get(OutboxMessage, row.id)
    mark(stored, *args)
    session.add(stored)
    return stored
