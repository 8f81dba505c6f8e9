"""The quiet hours: no notice of the office's events reaches a resident between 21:00 and 8:00
Shanghai time; one due then waits for the morning."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from db.clock import SHANGHAI

QUIET_FROM, QUIET_TO = time(21, 0), time(8, 0)


def quiet_until(now: datetime) -> datetime | None:
    """When the quiet hours around `now` end (8:00 Shanghai), or None outside them."""
    local = now.astimezone(SHANGHAI)
    if QUIET_TO <= local.time() < QUIET_FROM:
        return None
    morning = local.date() if local.time() < QUIET_TO else local.date() + timedelta(days=1)
    return datetime.combine(morning, QUIET_TO, tzinfo=SHANGHAI)
