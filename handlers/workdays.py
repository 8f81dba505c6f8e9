"""Time limits in working days, as Shanghai's 12345 counts them.

Working days are Monday to Friday in Asia/Shanghai, minus public holidays, plus the weekend
days that are worked instead (调休): both lists come from the settings. A limit of N working
days ends at the same clock time N working days later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Calendar:
    holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

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
        """Hours between two times that fall on working days (whole days count 24 h)."""
        if end <= start:
            return 0.0
        total = timedelta()
        cursor = start.astimezone(SHANGHAI)
        end_local = end.astimezone(SHANGHAI)
        while cursor < end_local:
            next_midnight = (cursor + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            stop = min(next_midnight, end_local)
            if self.is_workday(cursor.date()):
                total += stop - cursor
            cursor = stop
        return total.total_seconds() / 3600
