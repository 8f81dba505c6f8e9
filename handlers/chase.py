"""Time limits: chase (催办) tickets in the moderation chat, and close resolved ones nobody rated.

`run()` is called every few minutes (bot/jobs.py, whatever the channels); it also forgets the
keys of updates handled more than KEEP_UPDATE_KEYS ago. For each open ticket it posts a chase
(and records it in the ticket's log) when a limit is about to pass and when it has passed
(handlers/rules/deadlines.py), once per ticket and stage: the Chase table remembers what was
posted, so a restart repeats nothing, and two bot processes running it at once (one PostgreSQL
database) post each chase once: the second insert of the same (ticket, stage) waits for the
first and is refused by the primary key.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from db import tickets
from handlers import notify
from handlers.rules.deadlines import chase_stages
from handlers.services import Services

KEEP_UPDATE_KEYS = timedelta(days=2)  # Telegram keeps an update 24 hours; WeChat retries within seconds


async def run(services: Services, now: datetime | None = None) -> int:
    """Post the chases that are due and close stale resolved tickets; returns the chases posted."""
    now = now or services.clock()
    posted = 0
    async with services.store.transaction() as session:
        due = [(t, stage) for t in await tickets.all_open(session) for stage in chase_stages(t, now)]
    for ticket, stage in due:
        try:
            async with services.store.transaction() as session:
                await tickets.add_chase(session, ticket.id, stage, now)
                text = services.texts.render("staff_chase", "zh", ticket=ticket, stage=stage,
                                             category=services.categories.title(ticket.category, "zh"))
                # in the ticket's log (the staff web console) as well as the moderation chat, if there is one
                await tickets.add_event(session, ticket, "system", "chase", text, public=False)
                notify.to_staff(session, services, ticket, "chase", text)
                notify.to_office(session, services, "chase", ticket, stage=stage)
            posted += 1
        except tickets.AlreadyChased:
            continue
    await close_unrated(services, now)
    await services.store.purge_updates(now - KEEP_UPDATE_KEYS)
    return posted


async def close_unrated(services: Services, now: datetime) -> int:
    """Resolved tickets the resident did not rate within the reopen window are closed."""
    cutoff = now - timedelta(days=services.tickets.reopen_days)
    async with services.store.transaction() as session:
        stale = await tickets.resolved_before(session, cutoff)
        for ticket in stale:
            await tickets.change_status(session, ticket, "closed", "system", "居民未评价,自动关闭", public=True,
                                        now=now)
    return len(stale)
