"""Time limits: chase (催办) tickets in the moderation chat, and close resolved ones nobody rated.

`run()` is called every few minutes (the Telegram channel's JobQueue); it also forgets the keys
of updates handled more than KEEP_UPDATE_KEYS ago. For each open ticket it
posts a chase when a limit is about to pass (within SOON) and when it has passed, once per
ticket and stage: the Chase table remembers what was posted, so a restart repeats nothing, and
two bot processes running it at once (one PostgreSQL database) post each chase once: the second
insert of the same (ticket, stage) waits for the first and is refused by the primary key.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from db import tickets
from db.models import OPEN_STATES, Chase, Ticket, utcnow
from handlers import notify
from handlers.services import Services

SOON = timedelta(hours=2)
KEEP_UPDATE_KEYS = timedelta(days=2)  # Telegram keeps an update 24 hours; WeChat retries within seconds


def stages_due(ticket: Ticket, now: datetime) -> list[str]:
    """The chase stages this ticket has reached now."""
    stages = []
    if ticket.first_response_at is None:
        if now >= ticket.response_due:
            stages.append("response_late")
        elif now >= ticket.response_due - SOON:
            stages.append("response_soon")
    if now >= ticket.resolution_due:
        stages.append("resolution_late")
    elif now >= ticket.resolution_due - SOON:
        stages.append("resolution_soon")
    return stages


async def run(services: Services, now: datetime | None = None) -> int:
    """Post the chases that are due and close stale resolved tickets; returns the chases posted."""
    now = now or utcnow()
    posted = 0
    async with services.store.transaction() as session:
        open_rows = (await session.exec(select(Ticket).where(col(Ticket.status).in_(OPEN_STATES)))).all()
        due = [(t, stage) for t in open_rows for stage in stages_due(t, now)]
    for ticket, stage in due:
        try:
            async with services.store.transaction() as session:
                session.add(Chase(ticket_id=ticket.id, stage=stage, at=now))
                await session.flush()  # the primary key refuses a second chase of the same stage
                notify.to_staff(session, services, ticket, "chase", services.texts.render(
                    "staff_chase", "zh", ticket=ticket, stage=stage,
                    category=services.categories.title(ticket.category, "zh")))
            posted += 1
        except IntegrityError:
            continue
    await close_unrated(services, now)
    await services.store.purge_updates(now - KEEP_UPDATE_KEYS)
    return posted


async def close_unrated(services: Services, now: datetime) -> int:
    """Resolved tickets the resident did not rate within the reopen window are closed."""
    cutoff = now - timedelta(days=services.tickets.reopen_days)
    async with services.store.transaction() as session:
        # Locked (PostgreSQL), so two bot processes running this at once do not both close one ticket.
        stale = (await session.exec(
            select(Ticket).where(Ticket.status == "resolved", Ticket.resolved_at < cutoff)
            .with_for_update(skip_locked=True))).all()
        for ticket in stale:
            await tickets.change_status(session, ticket, "closed", "system", "居民未评价,自动关闭", public=True)
    return len(stale)
