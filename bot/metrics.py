"""What an operator watches: Prometheus metrics of one bot process, at `GET /metrics` of `python -m
bot serve` (Prometheus' text format; docs/deployment.md says which alerts to set).

Counted where things already happen, by small hooks:
- `handle`: each channel's call of the router (bot/channels/telegram.py, wechat.py): updates by
  channel and reply kind, the reply's latency, fallbacks, clarifications, emergencies;
- `CountingSender`: around each channel's outbox sender: messages sent by purpose, sends refused
  or put off by reason;
- `timed_export`: around the bot's exporter (bot/export/run.py): each export's duration.
Read from the database at each scrape (`refresh`): tickets by status, and the outbox's depth and
oldest waiting message by purpose, so every process sharing a database reports the same figures.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

from handlers.router import handle as route

if TYPE_CHECKING:
    from db.models import OutboxMessage, Ticket
    from handlers.services import Services
    from handlers.types import Inbound, Reply

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, process_cpu_seconds_total, open fds
CONTENT_TYPE = CONTENT_TYPE_LATEST

UPDATES = Counter("tangqiao_updates", "Updates handled, by channel and the reply's kind", ["channel", "kind"],
                  registry=REGISTRY)
REPLY_SECONDS = Histogram("tangqiao_reply_seconds", "Seconds from an update to the router's reply (sending excluded)",
                          ["channel"], registry=REGISTRY,
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
FALLBACKS = Counter("tangqiao_fallbacks", "Questions answered with the honest fallback (nothing in the report fits)",
                    ["channel"], registry=REGISTRY)
CLARIFICATIONS = Counter("tangqiao_clarifications", "Questions answered with a choice of entries", ["channel"],
                         registry=REGISTRY)
EMERGENCIES = Counter("tangqiao_emergencies", "Messages answered as an emergency (advice, then staff alerted)",
                      ["channel"], registry=REGISTRY)
SENT = Counter("tangqiao_outbox_sent", "Outbox messages the platform accepted, by purpose", ["channel", "purpose"],
               registry=REGISTRY)
REFUSED = Counter("tangqiao_sends_refused", "Outbox sends the platform did not take: blocked (the resident blocked the "
                  "bot or is gone), refused (for good), rate_limited (429, retried), transient (network, 5xx, retried), "
                  "error (a bug in a sender, retried)", ["channel", "reason"], registry=REGISTRY)
EXPORT_SECONDS = Histogram("tangqiao_export_seconds", "Seconds an export took (child process, all formats)",
                           ["outcome"], registry=REGISTRY, buckets=(1, 2.5, 5, 10, 20, 40, 80, 160, 320))
TICKETS = Gauge("tangqiao_tickets", "Tickets by status (read from the database at the scrape)", ["status"],
                registry=REGISTRY)
OUTBOX_DEPTH = Gauge("tangqiao_outbox_depth", "Outbox messages not yet sent (pending or being sent), by purpose",
                     ["purpose"], registry=REGISTRY)
OUTBOX_OLDEST = Gauge("tangqiao_outbox_oldest_seconds", "Age of the oldest message not yet sent, by purpose",
                      ["purpose"], registry=REGISTRY)
SCRAPE_ERRORS = Counter("tangqiao_metrics_database_errors", "Scrapes whose database figures could not be read",
                        registry=REGISTRY)

_COUNTED_KINDS = {"fallback": FALLBACKS, "clarify": CLARIFICATIONS, "emergency": EMERGENCIES}


def observe(channel: str, reply: Reply, seconds: float) -> None:
    UPDATES.labels(channel, reply.kind).inc()
    REPLY_SECONDS.labels(channel).observe(seconds)
    if (counter := _COUNTED_KINDS.get(reply.kind)) is not None:
        counter.labels(channel).inc()


async def handle(inbound: Inbound, services: Services) -> Reply:
    """The router's reply (handlers.router.handle), counted and timed."""
    started = time.perf_counter()
    reply = await route(inbound, services)
    observe(inbound.channel, reply, time.perf_counter() - started)
    return reply


class CountingSender:
    """An outbox sender (bot/delivery.py's Sender) whose outcomes are counted."""

    def __init__(self, channel: str, sender: Any):
        self.channel, self.sender = channel, sender

    async def send(self, row: OutboxMessage, ticket: Ticket | None) -> Any:
        from bot.delivery import Refused, RetryLater

        try:
            sent = await self.sender.send(row, ticket)
        except Refused as error:
            REFUSED.labels(self.channel, "blocked" if error.blocked else "refused").inc()
            raise
        except RetryLater as error:
            REFUSED.labels(self.channel, "rate_limited" if error.retry_after is not None else "transient").inc()
            raise
        except Exception:
            REFUSED.labels(self.channel, "error").inc()
            raise
        SENT.labels(self.channel, row.purpose).inc()
        return sent

    def __getattr__(self, name: str) -> Any:  # whatever else the channel's sender offers
        return getattr(self.sender, name)


def timed_export(export: Callable[[date, date], Awaitable[Any]]) -> Callable[[date, date], Awaitable[Any]]:
    async def timed(start: date, end: date) -> Any:
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await export(start, end)
            outcome = "ok"
            return result
        finally:
            EXPORT_SECONDS.labels(outcome).observe(time.perf_counter() - started)

    return timed


async def refresh(services: Services) -> None:
    """Set the gauges read from the database (a figure that is gone, such as a status no ticket has
    any more, is dropped)."""
    from db import gauges
    from db.clock import aware

    if services.store is None:
        return
    try:
        async with services.store.transaction() as session:
            statuses = await gauges.tickets_by_status(session)
            waiting = await gauges.outbox_by_purpose(session)
    except Exception:
        SCRAPE_ERRORS.inc()
        raise
    now = services.clock()
    TICKETS.clear()
    for status, count in statuses.items():
        TICKETS.labels(status).set(count)
    OUTBOX_DEPTH.clear()
    OUTBOX_OLDEST.clear()
    for purpose, (count, oldest) in waiting.items():
        OUTBOX_DEPTH.labels(purpose).set(count)
        OUTBOX_OLDEST.labels(purpose).set(max(0.0, (now - aware(oldest)).total_seconds()))


def exposition() -> bytes:
    return generate_latest(REGISTRY)
