"""The finished weeks' dashboard figures kept in the database (bot/export/figures.py finished_figures,
db/week_figures.py): a second server over the same database reads them instead of computing them;
a change to an old week's ticket, or one of its deadlines passing, computes that week again; and the
figures read back are the ones computed."""
from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, time, timedelta

import pytest

from bot.export import figures
from db.models import utcnow
from db.store import Store
from handlers.reports import today_in_shanghai
from tests.test_staff_console import new_ticket, rows

MONDAY = today_in_shanghai() - timedelta(days=today_in_shanghai().weekday())


def week(back: int, day: int = 2) -> datetime:
    """10:00 (UTC) on a day of the week `back` weeks before this one."""
    return datetime.combine(MONDAY - timedelta(days=7 * back - day), time(2)).replace(tzinfo=UTC)


@pytest.fixture
def computed(monkeypatch) -> list:
    """The finished ranges whose figures were computed (not read back), in a fresh process's memory."""
    found, original = [], figures.figures

    async def counting(conn, services_, start, end, now):
        if start < MONDAY:
            found.append(start)
        return await original(conn, services_, start, end, now)

    monkeypatch.setattr(figures, "figures", counting)
    monkeypatch.setattr(figures, "_finished", {})
    monkeypatch.setattr(figures, "_written", {})
    return found


def restart(monkeypatch) -> None:
    """What a new server process starts with: no figures in memory."""
    monkeypatch.setattr(figures, "_finished", {})
    monkeypatch.setattr(figures, "_written", {})


async def old_weeks(services) -> dict:
    """Tickets and opinions in weeks 2, 3 and 5 back: resolved, late, and with phone numbers in places."""
    made = {}
    for back, user in ((2, "a"), (3, "b"), (5, "c")):
        ticket = await new_ticket(services, user=user, place=f"峨山路{back}弄 电话 139 1234 567{back}")
        late = await new_ticket(services, user=user + "2", text=f"噪音扰民{back}", category="noise", late=True)
        rows(services, "update ticket set created_at = ?, first_response_at = ?, resolved_at = ?, status = 'resolved', "
             "rating = 4 where id = ?", week(back), week(back) + timedelta(hours=3), week(back, 3), ticket.id)
        rows(services, "update ticket set created_at = ? where id = ?", week(back), late.id)
        resident = await services.store.resident("telegram", user)
        opinion = await services.store.add_opinion(resident.id, "希望多装几盏路灯", "telegram", "other")
        rows(services, "update opinion set created_at = ? where id = ?", week(back, 4), opinion)
        made[back] = ticket
    return made


async def trend(services, now=None) -> list:
    return await figures.weekly_trend(services.store, services, today_in_shanghai(), now or utcnow())


async def test_a_second_server_reads_the_finished_weeks_instead_of_computing_them(services, database_url, computed,
                                                                                  monkeypatch):
    await old_weeks(services)
    first = await trend(services)
    assert len(set(computed)) == 11  # the trend's 11 finished weeks (the 12th is this one, always computed)
    assert rows(services, "select count(*) from weekfigures") == [(11,)]
    restart(monkeypatch)
    computed.clear()
    store = await Store.open(database_url)
    try:
        second = await trend(replace(services, store=store))
    finally:
        await store.close()
    assert computed == []
    assert [asdict(s) for s in second] == [asdict(s) for s in first]


async def test_the_kept_figures_are_the_computed_ones(services, computed, monkeypatch):
    """Read back from the database (titles made again, places as masked), each finished week's
    figures are what computing them gives: same counts, medians (as hours), places, shares."""
    await old_weeks(services)
    await trend(services)
    restart(monkeypatch)
    kept = await trend(services)
    async with services.store.engine.connect() as conn:
        fresh = [await figures.figures(conn, services, s.start, s.end, utcnow()) for s in kept]
    for read, made in zip(kept, fresh, strict=True):
        assert asdict(read) == asdict(made)
        assert type(read.median_resolution) is type(made.median_resolution)
    busy = [s for s in kept if s.tickets]
    assert len(busy) == 3 and all(s.median_resolution is not None and s.late == 1 for s in busy)
    assert all("1234" not in place for s in busy for place, _ in s.top_places)  # masked, in the table too
    assert not rows(services, "select figures from weekfigures where figures like '%1234 567%'")


async def test_a_change_to_an_old_weeks_ticket_computes_that_week_only(services, computed, monkeypatch):
    from handlers import staff

    made = await old_weeks(services)
    await trend(services)
    await staff.add_note(made[3], "已联系物业", "web:wang", services)  # a ticket of 3 weeks back
    await new_ticket(services, user="new")  # and this week's: no finished week's
    restart(monkeypatch)
    computed.clear()
    again = await trend(services)
    assert computed == [MONDAY - timedelta(days=21)]
    async with services.store.engine.connect() as conn:  # and what it shows is the week as it is now
        assert asdict(again[-4]) == asdict(await figures.figures(conn, services, again[-4].start, again[-4].end, utcnow()))
    computed.clear()
    restart(monkeypatch)
    await trend(services)  # kept again, under the newer mark
    assert computed == []
    assert rows(services, "select count(distinct mark) from weekfigures") == [(1,)]


async def test_a_deadline_passing_computes_its_week_again(services, computed, monkeypatch):
    """An old week's ticket still within its time limit turns late as time passes, with nothing
    written: its week's figures are kept until that moment only."""
    await old_weeks(services)
    pending = await new_ticket(services, user="d", due_in=timedelta(minutes=5))
    rows(services, "update ticket set created_at = ? where id = ?", week(4), pending.id)
    now = utcnow()
    before = await trend(services, now)
    assert (before[-5].pending, before[-5].late) == (1, 0)
    restart(monkeypatch)
    computed.clear()
    assert (await trend(services, now + timedelta(minutes=1)))[-5].pending == 1
    assert computed == []
    restart(monkeypatch)
    later = await trend(services, now + timedelta(minutes=10))
    assert computed == [MONDAY - timedelta(days=28)]
    assert (later[-5].pending, later[-5].late) == (0, 1)


async def test_forgetme_drops_the_kept_weeks_whose_places_held_the_residents_number(services, computed):
    from db.privacy import forget_resident
    from handlers.masking import erase_numbers

    made = await old_weeks(services)
    await trend(services)
    assert rows(services, "select count(*) from weekfigures where figures like '%峨山路2弄%'") == [(1,)]
    async with services.store.transaction() as session:
        await forget_resident(session, made[2].resident_id, "telegram", "a", erase_numbers)
    assert rows(services, "select count(*) from weekfigures") == [(0,)]
    await new_ticket(services, user="new")  # a newer mark, and time for it to be written: not for dropped weeks
    await trend(services, utcnow() + figures.SAVE_EVERY)
    assert rows(services, "select count(*) from weekfigures where start < ?", MONDAY) == [(0,)]


async def test_a_new_holiday_computes_the_kept_weeks_again(services, computed, monkeypatch):
    """The working hours rest on the calendar: figures kept under another one are not read back."""
    await old_weeks(services)
    await trend(services)
    restart(monkeypatch)
    computed.clear()
    calendar = replace(services.tickets.calendar, holidays=services.tickets.calendar.holidays | {MONDAY - timedelta(days=19)})
    await trend(replace(services, tickets=replace(services.tickets, calendar=calendar)))
    assert len(set(computed)) == 11
