"""The console's live updates (issue 23) over real HTTP on loopback: the change feed numbered by the
database, answered as a long poll, seen by a page's script."""
from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest

from db import alerts, changes
from tests.test_dialogs import Resident, report
from tests.test_staff_console import console as console  # noqa: F401 (the fixtures, by their names)
from tests.test_staff_console import console_env as console_env  # noqa: F401
from tests.test_staff_console import csrf_of, form_fields, new_ticket, rows

pytestmark = pytest.mark.both_databases


def version_of(html: str) -> int:
    return int(re.search(r'id="live" data-version="(\d+)"', html).group(1))


async def poll(console, since: int, **params) -> dict:
    async with console.http.get(console.url("/staff/live"), params={"since": str(since), **params},
                                allow_redirects=False) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_the_feed_sees_a_report_made_through_the_router_while_the_page_waits(console, services):
    await console.login()
    since = version_of((await console.get("/staff/"))[1])
    waiting = asyncio.create_task(poll(console, since))
    await asyncio.sleep(0)
    assert not waiting.done()
    reply = await report(Resident(services, "r9"))
    [(number, category)] = rows(services, "select number, category from ticket")
    assert number in reply.text
    answer = await asyncio.wait_for(waiting, 10)  # answered by the change, long before the poll's 25 s
    created = [c for c in answer["changes"] if c["kind"] == "created"]
    assert [(c["number"], c["by"], c["me"]) for c in created] == [(number, "居民", False)]
    assert created[0]["category"] == services.categories.title(category, "zh")
    assert answer["version"] > since and not answer["reload"]
    assert "text" not in created[0] and "峨山路" not in str(answer)  # no resident text in the feed
    again = await poll(console, answer["version"], wait="0")
    assert again["changes"] == [] and again["version"] == answer["version"]


async def test_a_colleagues_change_names_them_and_an_assignment_is_for_the_assignee(console, services):
    ticket = await new_ticket(services)
    await console.login("li")
    path = f"/staff/tickets/{ticket.number}"
    html = (await console.get(path))[1]
    since = version_of(html)
    assert f'data-ticket="{ticket.id}"' in html
    other = type(console)(console.server)
    await other.login("wang")
    page = (await other.get(path))[1]
    await other.post(f"{path}/assign", {**form_fields(page, "assign"), "assignee": "li"})
    answer = await poll(console, since)
    [change] = answer["changes"]
    assert (change["kind"], change["ticket"], change["by"], change["me"], change["to_me"]) == (
        "assign", ticket.id, "wang(网页)", False, True)
    assert answer["mine"] == 1
    await other.http.close()


async def test_alerts_and_their_acknowledgement_are_changes(console, services):
    await console.login()
    since = version_of((await console.get("/staff/"))[1])
    async with services.store.transaction() as session:
        alert = alerts.record(session, "telegram", ["gas"], "煤气味很重")
    answer = await poll(console, since)
    assert [c["kind"] for c in answer["changes"]] == ["alert"] and answer["alerts"] == 1
    html = (await console.get("/staff/"))[1]
    await console.post(f"/staff/alerts/{alert.id}/acknowledge", {"csrf": csrf_of(html), "back": "/staff/"})
    answer = await poll(console, answer["version"])
    assert [c["kind"] for c in answer["changes"]] == ["acknowledged"] and answer["alerts"] == 0


async def test_numbers_follow_the_commits_and_a_rolled_back_change_takes_none(services):
    ticket = await new_ticket(services)
    async with services.store.transaction() as session:
        first = await changes.current(session)
    with pytest.raises(RuntimeError):
        async with services.store.transaction() as session:
            changes.record(session, "note", ticket_id=ticket.id, actor="web:wang")
            raise RuntimeError("the transaction fails")
    async with services.store.transaction() as session:
        changes.record(session, "note", ticket_id=ticket.id, actor="web:wang")
        changes.record(session, "reveal", ticket_id=ticket.id, actor="web:wang")  # not shown to colleagues
    assert rows(services, "select seq, kind from livechange order by seq") == [(first, "created"), (first + 1, "note")]


async def test_a_page_from_before_the_kept_changes_or_another_database_reloads(console, services):
    from datetime import timedelta

    from db.models import utcnow

    for n in range(3):
        await new_ticket(services, user=f"r{n}")
    await console.login()
    assert (await poll(console, 10**6))["reload"]  # beyond the counter: answered at once
    async with services.store.transaction() as session:
        await changes.purge(session, utcnow() + timedelta(seconds=1))
    await new_ticket(services, user="r9")
    assert (await poll(console, 1))["reload"]  # changes 2 and 3 are gone
    status, text, _ = await console.get("/staff/live", params={"since": "٣"})
    assert status == 400 and "since" in text


async def test_the_script_is_our_own_and_the_pages_allow_only_it(console):
    await console.login()
    status, body, response = await console.get("/staff/live.js")
    assert status == 200 and response.headers["Content-Type"].startswith("text/javascript")
    assert "/staff/live?since=" in body and "http" not in body.replace("HTTP ", "")  # nothing from elsewhere
    _, html, response = await console.get("/staff/")
    assert '<script src="/staff/live.js" defer></script>' in html and "<script>" not in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


async def test_the_migrated_schema_is_the_models(services):
    from db.migrations import differences

    async with services.store.engine.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_changes_older_than_a_day_are_forgotten_by_the_periodic_job(services):
    from bot.jobs import purge_changes

    await new_ticket(services, user="r1")
    await new_ticket(services, user="r2")
    from sqlalchemy import update

    from db.models import LiveChange, utcnow

    async with services.store.transaction() as session:  # the first change, two days ago
        first = min(c.seq for c in await changes.since(session, 0))
        await session.exec(update(LiveChange).where(LiveChange.seq == first).values(at=utcnow() - timedelta(days=2)))
    assert await purge_changes(services) == 1
    assert len(rows(services, "select seq from livechange")) == 1


async def test_a_stopping_server_answers_the_waiting_pages_at_once(console, services):
    from bot.staff_live import FEED
    from tests.bot_harness import eventually

    await console.login()
    since = version_of((await console.get("/staff/"))[1])
    waiting = asyncio.create_task(poll(console, since))
    feed = console.server.app[FEED]
    await eventually(lambda: feed.waiting, what="the page waiting")
    await asyncio.wait_for(console.server.close(), 8)  # not the poll's 25 s, nor the 10 s requests are given
    answer = await asyncio.wait_for(waiting, 1)
    assert answer["changes"] == [] and answer["version"] == since
