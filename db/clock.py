"""The office's clock: Shanghai time for what residents and staff see (limits, the export's
weeks, dates in replies), UTC for what is stored. Imports nothing heavy: `ask` uses it too."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """Now, in UTC, as the process's clock reads it (install() one that a test or `converse` moves)."""
    return _process_clock()


def today() -> date:
    """Today's date in Shanghai, by the process's clock."""
    return utcnow().astimezone(SHANGHAI).date()


def aware(moment: datetime | None) -> datetime | None:
    """A stored time as UTC: SQLite gives back naive datetimes, PostgreSQL aware ones."""
    return moment if moment is None or moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Clock:
    """Now, in UTC, for what depends on the hour (quiet hours, which events are still to come).
    One per running bot, in its Services; `offset` moves it (tests and the broadcast benchmark
    set it, as Services is built once and frozen)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, at: datetime) -> None:
        """From now on the clock reads `at`, and runs on from there."""
        self.offset = at - datetime.now(UTC)

    def advance(self, by: timedelta) -> None:
        self.offset += by


_process_clock = Clock()


def install(clock: Clock) -> None:
    """Make `clock` the one utcnow() reads: everything in the process (stored times, expiries,
    the outbox) then moves with it. `python -m bot converse` moves its clock this way."""
    global _process_clock
    _process_clock = clock
