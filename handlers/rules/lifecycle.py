"""A ticket's life cycle: its statuses, which may follow which, what a move stamps on it, and
when it is late. The staff chat, the web console, the resident's rating and the chase all move
tickets by these rules (db/tickets.py change_status records the move).

new -> acknowledged -> in_progress -> resolved -> closed, plus rejected and duplicate; a
resolved ticket waits for the resident's rating (a low one reopens it), then is closed; any
ended one may be reopened. Time limits: handlers/rules/deadlines.py.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from db.clock import aware


class Status(StrEnum):
    # member names are the stored values, so a status read from the database finds its member
    new = "new"
    acknowledged = "acknowledged"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"
    rejected = "rejected"
    duplicate = "duplicate"


# Which status may follow which (plain strings: what the database stores and SQL compares).
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.new: frozenset({Status.acknowledged, Status.in_progress, Status.resolved, Status.rejected, Status.duplicate}),
    Status.acknowledged: frozenset({Status.in_progress, Status.resolved, Status.rejected, Status.duplicate}),
    Status.in_progress: frozenset({Status.resolved, Status.rejected, Status.duplicate}),
    Status.resolved: frozenset({Status.closed, Status.in_progress}),
    Status.closed: frozenset({Status.in_progress}),
    Status.rejected: frozenset({Status.in_progress}),
    Status.duplicate: frozenset({Status.in_progress}),
}
OPEN = (Status.new.value, Status.acknowledged.value, Status.in_progress.value)  # staff still owe the resident
ENDED = (Status.closed.value, Status.rejected.value, Status.duplicate.value)  # nothing more happens unless reopened
# what staff set by hand (/status, the console's control); closed follows a rating, duplicate a merge
STAFF_MOVES = (Status.acknowledged.value, Status.in_progress.value, Status.resolved.value, Status.rejected.value)


class TransitionError(ValueError):
    """A status change the life cycle does not allow; the message says which."""


class Stamped(Protocol):
    """What a move changes on a ticket (db.models.Ticket is one)."""

    number: str
    status: str
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    rating: int | None
    rating_comment: str | None


def can_move(before: str, to: str) -> bool:
    return to in TRANSITIONS.get(before, frozenset())


def staff_choices(status: str) -> list[str]:
    """The moves staff may make by hand from `status`, in life-cycle order."""
    return [s for s in STAFF_MOVES if can_move(status, s)]


def move(ticket: Stamped, to: str, now: datetime, by_staff: bool) -> str:
    """Move `ticket` to `to` and stamp the times the move sets; returns the status it had.
    TransitionError for a move the life cycle does not allow (nothing changed then)."""
    before = ticket.status
    if not can_move(before, to):
        raise TransitionError(f"{ticket.number}: {before} -> {to} is not allowed")
    ticket.status = to
    if by_staff and ticket.first_response_at is None:  # any move by staff is their first response
        ticket.first_response_at = now
    if to == Status.resolved:
        ticket.resolved_at = now
    if to in ENDED:
        ticket.closed_at = now
    if to == Status.in_progress and before in (Status.resolved, *ENDED):  # reopened: as if never resolved
        ticket.resolved_at = ticket.closed_at = None
        ticket.rating = ticket.rating_comment = None
    return before


def unmerge(ticket: Stamped, merged_from: str | None) -> str:
    """Staff say a duplicate is not one: back to the status it had before the merge (in_progress
    when that is not known); returns that status."""
    if ticket.status != Status.duplicate:
        raise TransitionError(f"{ticket.number}: {ticket.status} is not a duplicate")
    ticket.status = merged_from or Status.in_progress.value
    ticket.closed_at = None
    return ticket.status


LOW_RATING = 2  # a rating of this or less reopens the ticket


def may_rate(ticket: Stamped, now: datetime, reopen_days: int) -> bool:
    """A resolved ticket is rated within `reopen_days` of its resolution; later it is closed."""
    resolved = aware(ticket.resolved_at)
    return ticket.status == Status.resolved and resolved is not None and now - resolved <= timedelta(days=reopen_days)


def after_rating(score: int) -> str:
    """The status a rating (1-5; "not solved" is 1) moves a resolved ticket to."""
    return Status.in_progress.value if score <= LOW_RATING else Status.closed.value
