"""Events on a real database (issue 15): the export's counts, /forgetme's cleanup, `python -m bot
events` and `ask` against DATABASE_URL's database, and the console's /staff/events page."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, timedelta

import pytest
from sqlmodel import select

from db import events
from db.clock import SHANGHAI, utcnow
from db.models import Event, OutboxMessage, Resident, Subscription
from handlers import events as shown_events
from tests.conftest import query_rows
from tests.test_staff_console import console, console_env, csrf_of  # noqa: F401  (the fixtures)

pytestmark = [pytest.mark.asyncio, pytest.mark.both_databases]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def daytime(services):
    """The services' clock at 10:00 Shanghai today (notices are not held)."""
    local = utcnow().astimezone(SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0)
    services.clock.set(local.astimezone(UTC))
    return local.astimezone(UTC)


async def resident(services, user_id: str) -> Resident:
    return await services.store.resident("telegram", user_id)


async def test_export_counts_published_events_subscribers_by_topic_and_notices_delivered(services, tmp_path):
    now = daytime(services)
    residents = [await resident(services, str(7000 + i)) for i in range(4)]
    async with services.store.transaction() as session:
        for r in residents[:3]:
            await events.subscribe(session, r.id, "jobs", now - timedelta(days=3))
        await events.subscribe(session, residents[3].id, "elderly", now - timedelta(days=3))
        await events.unsubscribe(session, residents[2].id, "jobs", now - timedelta(days=1))  # stopped within the week
        fair = events.add(session, "test", topic="jobs_job_fairs", title_zh="招聘会", start=now + timedelta(days=2), place="文化中心")
        events.add(session, "test", topic="fairs_markets", title_zh="市集(草稿)", start=now + timedelta(days=2), place="广场")
        await session.flush()
        assert await shown_events.publish(session, fair, services) == (2, None)
    async with services.store.transaction() as session:
        first = (await session.exec(select(OutboxMessage).where(OutboxMessage.purpose == "notice")
                                    .order_by(OutboxMessage.id))).first()
        first.state, first.sent_at = "sent", now + timedelta(minutes=1)
        session.add(first)
    async with services.store.transaction() as session:
        week = await events.export_counts(session, now - timedelta(days=7), now + timedelta(hours=1))
        before = await events.export_counts(session, now - timedelta(days=14), now - timedelta(days=7))
    assert week == events.EventCounts(published=1, delivered=1, subscribers=(("elderly", 1), ("jobs", 2)))
    assert before == events.EventCounts()

    # the weekly export says the same: in the chat's summary, the workbook's summary sheet and the HTML
    import csv

    from bot.export.build import build_export
    from db.clock import SHANGHAI as _SH

    today = now.astimezone(_SH).date()
    result = await build_export(services.store, services, today - timedelta(days=6), today, tmp_path, formats=("csv", "html"))
    assert "活动通知:发布 1 场,送达 1 条;订阅 为老服务 1 人、就业与人才 2 人。" in result.chat_text, result.chat_text
    [summary_csv] = [f for f in result.files if f.name.endswith("-summary.csv")]
    rows = {r[0]: r[1:] for r in csv.reader(summary_csv.open(encoding="utf-8-sig")) if r}
    assert rows["发布活动通知(场)"][:3] == ["1", "0", "1"] and rows["送达订阅通知(条)"][:3] == ["1", "0", "1"]
    assert rows["为老服务"][:1] == ["1"] and rows["就业与人才"][:1] == ["2"]  # subscribers by topic
    assert "送达订阅通知(条)" in next(f for f in result.files if f.suffix == ".html").read_text("utf-8")


async def test_forgetting_a_resident_deletes_their_subscriptions(services):
    now = daytime(services)
    kept, gone = await resident(services, "7101"), await resident(services, "7102")
    async with services.store.transaction() as session:
        await events.subscribe(session, kept.id, "jobs", now)
        await events.subscribe(session, gone.id, "jobs", now)
        fair = events.add(session, "test", topic="jobs_job_fairs", title_zh="招聘会", start=now + timedelta(days=1), place="x")
        await session.flush()
        await shown_events.publish(session, fair, services)
    async with services.store.transaction() as session:
        await events.forget(session, gone.id)
        await session.delete(await session.get(Resident, gone.id))
    assert query_rows(services.store, "SELECT resident_id FROM subscription") == [(kept.id,)]
    assert query_rows(services.store, "SELECT resident_id FROM notice") == [(kept.id,)]


async def test_forgetme_through_the_router_takes_the_subscriptions_along(services):
    from handlers.router import handle
    from handlers.types import Inbound

    def said(text="", callback=None, n=[0]):  # noqa: B006 - a counter for distinct message ids
        n[0] += 1
        return Inbound("telegram", "7301", "7301", text=text, callback=callback, message_id=str(n[0]))

    await handle(said("/subscribe"), services)
    assert "已订阅" in (await handle(said(callback="sub:elderly"), services)).messages[0].text
    assert query_rows(services.store, "SELECT topic FROM subscription") == [("elderly",)]
    await handle(said(callback="forget:yes"), services)
    assert query_rows(services.store, "SELECT count(*) FROM subscription") == [(0,)]


async def test_wechat_subscribers_silent_for_48_hours_are_queued_too(services):
    """Whether a WeChat resident can get it is the sender's to say (a template message, or held
    till they write: tests/test_wechat_window.py), not publishing's: nobody is left out."""
    from handlers.router import handle
    from handlers.types import Inbound

    now = daytime(services)
    for openid, hours in (("o-recent", 2), ("o-silent", 72)):
        services.clock.set(now - timedelta(hours=hours))
        await handle(Inbound("wechat", openid, openid, callback="sub:jobs", message_id=f"{openid}-1"), services)
    services.clock.set(now)
    async with services.store.transaction() as session:
        fair = events.add(session, "test", topic="jobs_job_fairs", title_zh="招聘会", start=now + timedelta(days=1), place="x")
        await session.flush()
        assert (await shown_events.publish(session, fair, services))[0] == 2
        progress = await events.progress(session, fair.id)
    assert (progress.total, progress.waiting, progress.held, progress.skipped) == (2, 2, 0, 0)
    assert sorted(query_rows(services.store, "SELECT chat_id FROM outboxmessage WHERE purpose = 'notice'")) == [
        ("o-recent",), ("o-silent",)]


async def test_unsubscribing_takes_back_that_areas_notices_not_yet_sent(services):
    """A notice waits (the quiet hours; on WeChat, held for days till the resident writes): one
    whose area the resident stopped meanwhile is never sent; another area's still is."""
    from handlers.router import handle
    from handlers.types import Inbound

    now = daytime(services)
    said = iter(range(1, 100))
    for area in ("jobs", "culture"):
        await handle(Inbound("wechat", "o-1", "o-1", callback=f"sub:{area}", message_id=f"m{next(said)}"), services)
    culture_topic = next(e.id for e in services.content.entries.values() if e.area == "culture")
    services.clock.set(now.replace(hour=14))  # 22:00 in Shanghai: the notices wait for the morning
    async with services.store.transaction() as session:
        fair = events.add(session, "test", topic="jobs_job_fairs", title_zh="招聘会", start=now + timedelta(days=2), place="x")
        show = events.add(session, "test", topic=culture_topic, title_zh="演出", start=now + timedelta(days=2), place="y")
        await session.flush()
        for event in (fair, show):
            assert (await shown_events.publish(session, event, services))[0] == 1
    await handle(Inbound("wechat", "o-1", "o-1", callback="unsub:jobs", message_id=f"m{next(said)}"), services)
    async with services.store.transaction() as session:
        assert (await events.progress(session, fair.id)) == events.Progress(total=1, stopped=1)
        assert (await events.progress(session, show.id)) == events.Progress(total=1, waiting=1)
        said_to_staff = shown_events.staff_say(services, "progress", number=fair.id, progress=await events.progress(session, fair.id))
    assert "1 条未发:居民已退订" in said_to_staff
    await handle(Inbound("wechat", "o-1", "o-1", callback="unsub:*", message_id=f"m{next(said)}"), services)
    assert query_rows(services.store, "SELECT state, last_error FROM outboxmessage WHERE purpose = 'notice'") == [
        ("cancelled", events.STOPPED), ("cancelled", events.STOPPED)]


async def test_a_telegram_subscriber_who_blocked_the_bot_is_reachable_again_once_they_write(services):
    from handlers.router import handle
    from handlers.types import Inbound

    now = daytime(services)
    await handle(Inbound("telegram", "7301", "7301", callback="sub:jobs", message_id="1"), services)
    async with services.store.transaction() as session:
        fair = events.add(session, "test", topic="jobs_job_fairs", title_zh="招聘会", start=now + timedelta(days=1), place="x")
        await session.flush()
        await shown_events.publish(session, fair, services)
        [row] = (await session.exec(select(OutboxMessage).where(OutboxMessage.purpose == "notice"))).all()
        assert await events.mark_blocked(session, row.id, now)  # the notice was refused: they blocked the bot
    await handle(Inbound("telegram", "7301", "7301", text="你好", message_id="2"), services)  # ...and came back
    assert query_rows(services.store, "SELECT blocked_at FROM subscription") == [(None,)]


def run_bot(database_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": ROOT}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          input=stdin, timeout=120)


async def test_the_command_line_adds_publishes_and_ask_leads_with_the_event(services, tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    soon = (utcnow() + timedelta(days=5)).astimezone(SHANGHAI)
    day = f"{soon:%Y-%m-%d}"
    base = ["events", "add", "--topic", "jobs_job_fairs", "--title-zh", "青年专场招聘会", "--place", "塘桥文化中心"]
    for wrong, said in ((["--start", f"{day} 14:00", "--end", f"{day} 13:00"], "is not after the start"),
                        (["--start", "2020-01-06 09:00"], "is in the past"),
                        (["--start", f"{day}T14:00"], "not in the format YYYY-MM-DD HH:MM"),
                        (["--start", f"{day} 14:00", "--topic", "job_fair"], "unknown topic 'job_fair'")):
        result = run_bot(url, *base, *wrong)
        assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith("error: "), result
        assert said in result.stderr.strip().splitlines()[-1]
    added = run_bot(url, *base, "--start", f"{day} 14:00", "--end", f"{day} 16:30", "--how", "带上简历")
    assert added.returncode == 0 and "event 1 added" in added.stdout, added
    assert "Published event #1" in run_bot(url, "events", "publish", "1").stdout
    assert f"1\tpublished\t{day} 14:00\tjobs_job_fairs\t青年专场招聘会" in run_bot(url, "events", "list").stdout

    before = query_rows_file(tmp_path / "bot.db")
    answer = run_bot(url, "ask", "下一场招聘会什么时候").stdout
    assert answer.index("青年专场招聘会") < answer.index("6场招聘会"), answer
    assert "14:00–16:30" in answer and "塘桥文化中心" in answer and "带上简历" in answer
    assert query_rows_file(tmp_path / "bot.db") == before  # ask stored nothing
    missing = tmp_path / "none.db"
    assert "青年专场招聘会" not in run_bot(f"sqlite:///{missing}", "ask", "下一场招聘会什么时候").stdout
    assert not missing.exists()  # ask created no database


def query_rows_file(path) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(path) as connection:
        return [connection.execute(f"SELECT count(*) FROM {t}").fetchone()
                for t in ("resident", "event", "notice", "outboxmessage", "processedupdate")]


async def test_the_console_creates_publishes_and_withdraws_an_event(console, services):  # noqa: F811
    await console.login()
    token = await console.csrf("/staff/events")
    subscriber = await resident(services, "7201")
    async with services.store.transaction() as session:
        await events.subscribe(session, subscriber.id, "culture", utcnow())
    start = (utcnow() + timedelta(days=3)).astimezone(SHANGHAI)
    form = {"csrf": token, "topic": "fairs_markets", "title_zh": "周末市集", "start": f"{start:%Y-%m-%d} 10:00",
            "place": "峨山路广场", "how": "免费入场", "publish": "1"}
    assert (await console.post("/staff/events", {**form, "csrf": "wrong"}))[0] == 403
    status, html, _ = await console.post("/staff/events", {**form, "start": "2020-01-04 10:00"})
    assert status == 400 and "已经过去" in html
    status, _, response = await console.post("/staff/events", form)
    assert status == 303, response
    status, html, _ = await console.get(response.headers["Location"])
    assert "周末市集" in html and '<p class="done" role="status">#1:已发送 0/1,等待发送 1</p>' in html
    assert query_rows(services.store, "SELECT chat_id, state FROM outboxmessage WHERE purpose = 'notice'") == [("7201", "pending")]
    status, _, response = await console.post("/staff/events/1/withdraw", {"csrf": csrf_of(html)})
    assert status == 303
    assert query_rows(services.store, "SELECT state, last_error FROM outboxmessage WHERE purpose = 'notice'") == [
        ("cancelled", "withdrawn")]
    async with services.store.transaction() as session:
        assert (await session.get(Event, 1)).status == "withdrawn"
        assert [s.topic for s in (await session.exec(select(Subscription))).all()] == ["culture"]


async def test_the_console_picks_times_edits_and_deletes_drafts_and_says_the_progress_in_words(console, services):  # noqa: F811
    await console.login()
    html = (await console.get("/staff/events"))[1]
    token = csrf_of(html)
    assert 'type="datetime-local" name="start"' in html and "<optgroup" in html and ">fairs_markets<" not in html
    start = (utcnow() + timedelta(days=4)).astimezone(SHANGHAI)
    form = {"csrf": token, "topic": "fairs_markets", "title_zh": "周末市集", "start": f"{start:%Y-%m-%d}T10:00",
            "end": f"{start:%Y-%m-%d}T09:00", "place": "峨山路广场"}
    for bad, said in (({"start": "12/12/2026 10:00"}, "开始时间无效"), ({}, "结束时间须晚于开始时间"),
                      ({"start": "0001-01-01T00:00"}, "已经过去"), ({"topic": "no_such_topic"}, "请选择主题"),
                      ({"start": "２０２６-12-12T10:00"}, "开始时间无效")):
        status, page, _ = await console.post("/staff/events", {**form, **bad})
        assert status == 400 and said in page and 'class="problem"' in page, bad
    status, _, response = await console.post("/staff/events", {**form, "end": f"{start:%Y-%m-%d}T11:30"})
    assert status == 303
    html = (await console.get("/staff/events"))[1]
    assert "草稿,尚未发送" in html and "0/0" not in html
    edit = (await console.get("/staff/events?edit=1"))[1]
    assert 'action="/staff/events/1/edit"' in edit and f'value="{start:%Y-%m-%d}T10:00"' in edit
    status, _, _ = await console.post("/staff/events/1/edit", {**form, "title_zh": "周末跳蚤市集", "end": ""})
    assert status == 303
    assert query_rows(services.store, "SELECT title_zh, status FROM event") == [("周末跳蚤市集", "draft")]
    await console.post("/staff/events/1/publish", {"csrf": token})
    html = (await console.get("/staff/events"))[1]
    assert "没有订阅者,无需发送" in html  # published, nobody subscribed: not a bare 0/0
    assert (await console.post("/staff/events/1/edit", {**form, "end": ""}))[0] == 409  # published: withdraw only
    assert (await console.post("/staff/events/1/delete", {"csrf": token}))[0] == 409
    await console.post("/staff/events", {**form, "end": ""})
    status, _, response = await console.post("/staff/events/2/delete", {"csrf": token})
    assert (status, response.headers["Location"]) == (303, "/staff/events?deleted=2")
    assert query_rows(services.store, "SELECT id FROM event") == [(1,)]

