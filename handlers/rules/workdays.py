"""Time limits in working days, as Shanghai's 12345 counts them, and working hours.

Working days are China's official calendar (the State Council's public holidays and the weekend
days worked instead, 调休), as the `chinesecalendar` package carries it, in Asia/Shanghai.
HOLIDAYS and WORKDAYS override it day by day, for a year the package does not know yet (it
raises for such a year; we then count Monday to Friday) or a local change. A limit of N working
days ends at the same clock time N working days later. Working hours, for the export's response
and resolution times, are the office hours (OFFICE_HOURS, 9:00-17:00) of working days.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import chinese_calendar

from db.clock import SHANGHAI

ZERO, ONE_DAY = timedelta(), timedelta(days=1)


@lru_cache(maxsize=4096)
def _official_workday(day: date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:  # a year the package has no data for: Monday to Friday
        return day.weekday() < 5


def official_calendar_ends() -> date:
    """The last day the official calendar data covers (31 December of its last year)."""
    return date(max(day.year for day in chinese_calendar.holidays), 12, 31)


@dataclass(frozen=True)
class Calendar:
    holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)
    office_hours: tuple[time, time] = (time(9), time(17))

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.holidays:
            return False
        return _official_workday(day)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """`start` plus `days` working days. A start on a day off counts from the next
        working day's beginning."""
        local = start.astimezone(SHANGHAI)
        if not self.is_workday(local.date()):
            local = local.replace(hour=0, minute=0, second=0, microsecond=0)
            while not self.is_workday(local.date()):
                local += timedelta(days=1)
        remaining = days
        while remaining > 0:
            local += timedelta(days=1)
            if self.is_workday(local.date()):
                remaining -= 1
        return local.astimezone(UTC)

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Office hours between two times: the part of each working day's office hours that
        falls between them (a ticket filed at night and answered at 10:00 took one hour)."""
        if end <= start:
            return 0.0
        opens, closes = self.office_hours
        total = timedelta()
        # on the wall clock of Shanghai, as naive times: office hours are wall-clock hours, and
        # naive arithmetic is several times cheaper (the export runs this for every ticket twice)
        start, end = start.astimezone(SHANGHAI).replace(tzinfo=None), end.astimezone(SHANGHAI).replace(tzinfo=None)
        day, last = start.date(), end.date()
        while day <= last:
            if self.is_workday(day):
                overlap = min(end, datetime.combine(day, closes)) - max(start, datetime.combine(day, opens))
                if overlap > ZERO:
                    total += overlap
            day += ONE_DAY
        return total.total_seconds() / 3600
