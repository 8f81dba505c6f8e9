"""A ticket's time limits: when they fall (working days, handlers/rules/workdays.py), when a
ticket is late, and which chase (催办) stages it has reached: a limit 2 hours away, a limit
passed. Shanghai's 12345 practice: a first response, then the resolution."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from db.clock import aware
from handlers.rules.lifecycle import OPEN
from handlers.rules.workdays import Calendar

SOON = timedelta(hours=2)  # a chase this long before a limit passes


class Limited(Protocol):
    status: str
    first_response_at: datetime | None
    response_due: datetime
    resolution_due: datetime


def limits(calendar: Calendar, created: datetime, response_days: int, resolution_days: int) -> dict[str, datetime]:
    """The limits of a ticket filed at `created`, as the ticket's fields."""
    return dict(response_due=calendar.add_working_days(created, response_days),
                resolution_due=calendar.add_working_days(created, resolution_days))


def is_late(ticket: Limited, now: datetime) -> bool:
    """An open ticket past a time limit: resolution, or a first response not yet given."""
    return ticket.status in OPEN and (
        aware(ticket.resolution_due) < now or (ticket.first_response_at is None and aware(ticket.response_due) < now))


def chase_stages(ticket: Limited, now: datetime) -> list[str]:
    """The chase stages an open ticket has reached at `now`: the response's while none was given,
    and the resolution's; each either "soon" or "late"."""
    stages = []
    if ticket.first_response_at is None:
        stages += _stage("response", aware(ticket.response_due), now)
    stages += _stage("resolution", aware(ticket.resolution_due), now)
    return stages


def _stage(limit: str, due: datetime, now: datetime) -> list[str]:
    if now >= due:
        return [f"{limit}_late"]
    return [f"{limit}_soon"] if now >= due - SOON else []
