"""The weekly export for the office, posted to the moderation chat by the weekly job or a
staff member's /export. The files are built by `services.exporter` (bot/export/run.py); this
module picks the days and queues the summary and the files through the outbox."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from db import exports, outbox
from db.clock import today
from handlers.services import Services


class ExportInputError(ValueError):
    """A bad date, range or format; the message is one line naming the problem."""


def today_in_shanghai() -> date:
    return today()


def last_week(today: date) -> tuple[date, date]:
    """Monday and Sunday of the week before the one `today` is in."""
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ExportInputError(f"{option} must be a date as YYYY-MM-DD, got {value!r}") from None


def parse_range(start: str | None, end: str | None, today: date, names: tuple[str, str] = ("--from", "--to")
                ) -> tuple[date, date]:
    """The export's days: last week when neither is given; one alone means the week it starts or ends."""
    if start is None and end is None:
        return last_week(today)
    first = parse_day(start, names[0]) if start is not None else None
    last = parse_day(end, names[1]) if end is not None else None
    first = first or last - timedelta(days=6)
    last = last or first + timedelta(days=6)
    if first > last:
        raise ExportInputError(f"{names[0]} {first} is after {names[1]} {last}")
    return first, last


async def post_export(services: Services, start: date, end: date, made_by: str = exports.SCHEDULED) -> str:
    """Build the export of these days, record it (db/exports.py) and queue its summary and files
    for the moderation chat; returns the summary (Telegram HTML)."""
    result = await services.exporter(start, end)
    async with services.store.transaction() as session:
        exports.record(session, start, end, result.files, made_by)
    rules = services.tickets
    if rules.moderation_chat is not None:
        async with services.store.transaction() as session:
            outbox.enqueue(session, rules.moderation_channel, rules.moderation_chat, "export", result.chat_text)
            for path in result.files:  # the files' content goes in the database: any process may send them
                file_id = await outbox.attach(session, Path(path).read_bytes())
                outbox.enqueue(session, rules.moderation_channel, rules.moderation_chat, "export",
                               document=Path(path).name, document_id=file_id)
    return result.chat_text


async def weekly(services: Services) -> str:
    """The weekly job: last week's export, Monday to Sunday."""
    return await post_export(services, *last_week(today_in_shanghai()))
