"""The office's clock: Shanghai time for what residents and staff see (limits, the export's
weeks, dates in replies), UTC for what is stored. Imports nothing heavy: `ask` uses it too."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)
