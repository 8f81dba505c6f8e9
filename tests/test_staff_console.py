"""The staff web console (bot/staff_console.py): accounts from the command line, then real HTTP on
loopback against the application `python -m bot serve` runs, with the real SQLite file, and one
test in Debian's Chromium driven by Playwright (skipped when either is absent)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import update as sa_update

from bot.export.build import build_export
from bot.export.sheets import Pseudonyms
from bot.settings import load_settings
from bot.web import build_web_app
from db import accounts, tickets
from db.clock import SHANGHAI
from db.models import Ticket, utcnow
from handlers import staff
from handlers.reports import today_in_shanghai
from handlers.services import TicketRules
from tests.conftest import query_rows
from tests.fake_bot_api import FakeBotApi

pytestmark = pytest.mark.both_databases
ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
MODERATION_CHAT = "-1001"


def staff_cli(database: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "PYTHONPATH": str(ROOT)}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot", "staff", *args], input=password and password + "\n",
                          capture_output=True, text=True, env=env, cwd=database.parent, timeout=60)


def test_staff_accounts_from_the_command_line(tmp_path):
    database = tmp_path / "bot.db"
    assert staff_cli(database, "add", "wang", "--admin", "--password-stdin", password=PASSWORD).returncode == 0
    assert staff_cli(database, "add", "li", "--password-stdin", password=PASSWORD).returncode == 0
    again = staff_cli(database, "add", "li", "--password-stdin", password=PASSWORD)
    assert again.returncode == 1 and "exists already" in again.stderr
    short = staff_cli(database, "add", "zhao", "--password-stdin", password="short")
    assert short.returncode == 1 and "at least 10" in short.stderr
    (stored,), = query_rows_sqlite(database, "select password_hash from staffaccount where name = 'li'")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert staff_cli(database, "disable", "li").returncode == 0
    assert staff_cli(database, "passwd", "nobody", "--password-stdin", password=PASSWORD).returncode == 1
    assert staff_cli(database, "link", "wang", "--telegram-id", "12345").returncode == 0
    assert staff_cli(database, "link", "wang", "--telegram-id", "@wang").returncode == 1
    listed = staff_cli(database, "list").stdout.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["li", "disabled"], ["wang", "admin"]]
    assert listed[1].endswith("telegram 12345")
    assert staff_cli(database, "passwd", "li", "--password-stdin", password=PASSWORD + "!").returncode == 0
    assert staff_cli(database, "set", "li", "--team", "城管科", "--language", "en").returncode == 0
    assert query_rows_sqlite(database, "select team, language from staffaccount where name = 'li'") == [("城管科", "en")]
    assert staff_cli(database, "list").stdout.splitlines()[0].endswith("team 城管科")
    assert query_rows_sqlite(database, "select disabled from staffaccount where name = 'li'") == [(0,)]


def query_rows_sqlite(database: Path, sql: str) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(database) as conn:
        return conn.execute(sql).fetchall()


async def test_the_readmes_two_commands_open_the_console_of_a_served_bot(tmp_path):
    """`python -m bot staff add`, then `python -m bot serve` in a process of its own: sign in, see the queue."""
    from tests.test_wechat import serving

    database = tmp_path / "bot.db"
    assert staff_cli(database, "add", "wang", "--password-stdin", password=PASSWORD).returncode == 0
    with serving(tmp_path, f"sqlite:///{database}") as (_, base):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{base}/staff/") as response:  # redirected to the login form
                assert str(response.url).endswith("/staff/login")
                token = csrf_of(await response.text())
            async with http.post(f"{base}/staff/login", data={"username": "wang", "password": PASSWORD, "csrf": token}) as response:
                assert response.status == 200 and str(response.url).endswith("/staff/")
                assert "没有符合条件的工单" in await response.text()

def demo_cli(folder: Path, database: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "PYTHONPATH": str(ROOT)}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    env.pop("PHOTO_DIR", None)
    return subprocess.run([sys.executable, "-m", "bot", "demo"], capture_output=True, text=True, env=env, cwd=folder,
                          timeout=120)


async def test_the_demo_fills_a_database_of_its_own_and_its_login_opens_the_console(tmp_path):
    """`python -m bot demo` then `python -m bot serve`: the README's two commands."""
    from tests.test_wechat import serving

    database = tmp_path / "bot.db"
    done = demo_cli(tmp_path, database)
    assert done.returncode == 0, done.stderr
    password = re.search(r"name demo, password (\S+)", done.stdout).group(1)
    counts = dict(query_rows_sqlite(database, "select status, count(*) from ticket group by status"))
    assert set(counts) == {"new", "acknowledged", "in_progress", "resolved", "closed", "rejected", "duplicate"}
    assert sum(counts.values()) == 120
    assert query_rows_sqlite(database, "select count(*) > 100 from opinion") == [(1,)]
    assert query_rows_sqlite(database, "select count(distinct kind) >= 6 from ticketevent") == [(1,)]
    (number,), = query_rows_sqlite(database, "select number from ticket where photos != '[]' limit 1")
    again = demo_cli(tmp_path, database)  # a second run fills nothing more: a new password only
    assert "there already" in again.stdout and query_rows_sqlite(database, "select count(*) from ticket") == [(120,)]
    password = re.search(r"name demo, password (\S+)", again.stdout).group(1)
    with serving(tmp_path, f"sqlite:///{database}") as (_, base):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{base}/staff/login") as response:
                token = csrf_of(await response.text())
            async with http.post(f"{base}/staff/login", data={"username": "demo", "password": password, "csrf": token}) as r:
                html = await r.text()
                assert r.status == 200 and str(r.url).endswith("/staff/") and "超时" in html and "工时" in html
            async with http.get(f"{base}/staff/files/{number}/0") as response:  # from the demo's cache: no Telegram
                assert response.status == 200 and response.content_type == "image/png"
            async with http.get(f"{base}/staff/dashboard") as response:
                assert response.status == 200 and "煤气味" in await response.text()

    other = tmp_path / "real.db"
    assert staff_cli(other, "add", "wang", "--password-stdin", password=PASSWORD).returncode == 0
    query_rows_sqlite(other, "insert into resident (channel, user_id, created_at) values ('telegram', '1', '2026-11-30')")
    query_rows_sqlite(other, "insert into opinion (resident_id, channel, category, text, created_at) "
                             "values (1, 'telegram', 'other', '真的意见', '2026-11-30')")
    refused = demo_cli(tmp_path, other)
    assert refused.returncode == 2 and "has tickets or opinions already" in refused.stdout
    assert query_rows_sqlite(other, "select count(*) from ticket") == [(0,)]


# -- the web console over real HTTP ----------------------------------------------------------


class Browser:
    """An HTTP client with cookies (loopback addresses included) against the running app."""

    def __init__(self, server: TestServer):
        self.server = server
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def get(self, path: str, **kw) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.get(self.url(path), allow_redirects=False, **kw) as response:
            return response.status, await response.text(), response

    async def post(self, path: str, data: dict, **kw) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.post(self.url(path), data=data, allow_redirects=False, **kw) as response:
            return response.status, await response.text(), response

    async def login(self, name: str = "wang", password: str = PASSWORD, **kw) -> tuple[int, str, aiohttp.ClientResponse]:
        _, form, _ = await self.get("/staff/login")
        return await self.post("/staff/login", {"username": name, "password": password, "csrf": csrf_of(form)}, **kw)

    async def csrf(self, path: str = "/staff/") -> str:
        status, html, _ = await self.get(path)
        assert status == 200, html
        return csrf_of(html)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture
def console_env() -> dict:
    """More settings for the console's application (a test class may override this)."""
    return {}


@pytest.fixture
async def console(services, tmp_path, console_env):
    """The application of `python -m bot serve` on loopback, two accounts (wang, li), a browser."""
    async with services.store.transaction() as session:
        await accounts.add(session, "wang", PASSWORD, admin=True)
        await accounts.add(session, "li", PASSWORD)
    (tmp_path / "committees.yaml").write_text("峨山路居委会: [峨山路, 金浦小区]\n东方居委会: [东方路]\n", encoding="utf-8")
    settings = load_settings({"EXPORT_DIR": str(tmp_path / "exports"), "COMMITTEES_FILE": str(tmp_path / "committees.yaml"),
                              **console_env})

    async def export(start, end):  # in this process (the bot's own exporter starts a child with services of its own)
        return await build_export(services.store, services, start, end, Path(settings.export_dir))

    services = replace(services, tickets=TicketRules(moderation_chat=MODERATION_CHAT), exporter=export)
    server = TestServer(build_web_app(settings, services), host="127.0.0.1", port=0)
    await server.start_server()
    browser = Browser(server)
    yield browser
    await browser.http.close()
    await server.close()


async def new_ticket(services, text="楼道路灯坏了一个星期,联系我 139 1234 5678", phone="13812345678", late=False,
                     category="facilities", user="r1", due_in=timedelta(days=5), place="峨山路91弄5号") -> Ticket:
    resident = await services.store.resident("telegram", user)
    now = utcnow()
    due = now - timedelta(hours=1) if late else now + due_in
    async with services.store.transaction() as session:
        ticket = await tickets.create(session, created_at=utcnow(),
                                      source_key=f"test:{user}:{text}", resident_id=resident.id, channel="telegram",
                                      chat_id=user, category=category, text=text, place=place, phone=phone,
                                      response_due=due, resolution_due=due)
    return ticket


def rows(services, sql, *args):
    return query_rows(services.store, sql, *args)


async def test_without_a_session_every_page_leads_to_the_login(console, services):
    ticket = await new_ticket(services)
    for path in ("/staff/", f"/staff/tickets/{ticket.number}"):
        status, _, response = await console.get(path)
        assert (status, response.headers["Location"]) == (303, "/staff/login")
    status, _, response = await console.post(f"/staff/tickets/{ticket.number}/reply", {"text": "hi", "csrf": "x"})
    assert (status, response.headers["Location"]) == (303, "/staff/login")
    status, html, _ = await console.get("/staff/login")
    assert status == 200 and 'name="username"' in html and 'name="password"' in html and "<script" not in html


async def test_a_wrong_password_is_refused_and_the_right_one_opens_a_session_cookie(console, services):
    status, html, _ = await console.login(password="not the password")
    assert status == 401 and "用户名或密码不对" in html
    assert "tq_staff" not in {c.key for c in console.http.cookie_jar}
    status, _, response = await console.login()
    assert (status, response.headers["Location"]) == (303, "/staff/")
    cookie = response.cookies["tq_staff"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/staff/"
    assert not cookie["secure"]  # plain http on loopback: a Secure cookie would never come back
    assert 0 < int(cookie["max-age"]) <= 8 * 3600
    (stored,), = rows(services, "select token_hash from staffsession")
    assert stored != cookie.value and len(stored) == 64  # only the token's digest is kept
    status, html, _ = await console.get("/staff/")
    assert status == 200 and "wang" in html


async def test_an_untrusted_peer_cannot_claim_https(console):
    status, _, response = await console.login(headers={"X-Forwarded-Proto": "https"})
    assert status == 303 and not response.cookies["tq_staff"]["secure"]  # loopback is no proxy until trusted


class TestBehindAProxy:
    @pytest.fixture
    def console_env(self):
        return {"TRUSTED_PROXIES": "127.0.0.1"}

    async def test_behind_an_https_proxy_the_cookie_is_secure(self, console):
        status, _, response = await console.login(headers={"X-Forwarded-Proto": "https"})
        assert status == 303 and response.cookies["tq_staff"]["secure"]


async def test_a_post_without_the_sessions_csrf_token_is_refused(console, services):
    ticket = await new_ticket(services)
    _, form, _ = await console.get("/staff/login")
    status, _, _ = await console.post("/staff/login", {"username": "wang", "password": PASSWORD})
    assert status == 403  # the login form too carries its token
    assert (await console.login())[0] == 303
    for token in ({}, {"csrf": "forged"}, {"csrf": csrf_of(form)}):  # none, a wrong one, the login form's
        status, _, _ = await console.post(f"/staff/tickets/{ticket.number}/reply", {"text": "您好", **token})
        assert status == 403
    assert rows(services, "select count(*) from ticketevent where kind = 'reply'") == [(0,)]
    assert rows(services, "select count(*) from outboxmessage where purpose = 'reply'") == [(0,)]


async def test_failed_logins_are_limited_per_account_and_per_address(console):
    for _ in range(5):
        assert (await console.login(password="guess guess guess"))[0] == 401
    status, html, _ = await console.login()  # the right password, too late
    assert status == 429 and "尝试次数过多" in html
    assert (await console.login("li"))[0] == 303  # another account from the same address
    console.http.cookie_jar.clear()  # signed out again
    for n in range(14):  # 5 + 14 + 1 = 20 failures from this address
        assert (await console.login(f"nobody{n}"))[0] == 401
    assert (await console.login("li", "wrong wrong wrong"))[0] == 401
    assert (await console.login("li"))[0] == 429


async def test_a_disabled_account_cannot_sign_in_and_its_session_ends(console, services):
    assert (await console.login("li"))[0] == 303
    async with services.store.transaction() as session:
        await accounts.disable(session, "li")
    status, _, response = await console.get("/staff/")
    assert (status, response.headers["Location"]) == (303, "/staff/login")
    status, html, _ = await console.login("li")
    assert status == 401 and "用户名或密码不对" in html


async def test_an_expired_session_leads_to_the_login(console, services):
    await console.login()
    assert (await console.get("/staff/"))[0] == 200
    rows(services, "update staffsession set expires_at = ?", utcnow() - timedelta(seconds=1))
    status, _, response = await console.get("/staff/")
    assert (status, response.headers["Location"]) == (303, "/staff/login")

async def test_logout_ends_the_session(console, services):
    await console.login()
    token = await console.csrf()
    status, _, response = await console.post("/staff/logout", {"csrf": token})
    assert (status, response.headers["Location"]) == (303, "/staff/login")
    assert rows(services, "select count(*) from staffsession") == [(0,)]
    assert (await console.get("/staff/"))[0] == 303


async def test_the_queue_masks_phones_marks_overdue_tickets_and_filters(console, services):
    from bot.staff_queue import end_of_today

    fresh = await new_ticket(services, category="fumes", user="r1")
    late = await new_ticket(services, text="垃圾房三天没清运了 <b>臭</b>", phone=None, late=True, user="r2")
    await console.login()
    status, html, _ = await console.get("/staff/")
    assert status == 200
    assert "13812345678" not in html and "5678" not in html.replace("139****5678", "")  # phones masked or not shown
    assert "139 1234 5678" not in html and "139****5678" in html  # a number inside the text
    assert "&lt;b&gt;臭&lt;/b&gt;" in html and "<b>臭</b>" not in html
    assert html.index(late.number) < html.index(fresh.number)  # soonest deadline first
    row = r"<tr class=\"{}\">\s*<td><input[^>]*></td>\s*<td><a [^>]*>{}"
    assert re.search(row.format("late", late.number), html) and not re.search(row.format("late", fresh.number), html)
    assert re.search(r"超时 <b>1</b>", html)
    overdue = (await console.get("/staff/?view=overdue"))[1]
    assert late.number in overdue and fresh.number not in overdue
    now = utcnow()
    soon = await new_ticket(services, text="电梯异响", phone=None, due_in=min(timedelta(hours=1), (end_of_today(now) - now) / 2),
                            user="r3")
    today = (await console.get("/staff/?view=today"))[1]
    assert soon.number in today and late.number not in today and fresh.number not in today
    assert re.search(row.format("soon", soon.number), today)
    fumes = (await console.get("/staff/?category=fumes"))[1]
    assert fresh.number in fumes and late.number not in fumes
    for query in (late.number, "垃圾房", str(late.id)):
        found = (await console.get("/staff/", params={"q": query}))[1]
        assert late.number in found and fresh.number not in found
    assert fresh.number not in (await console.get("/staff/?status=resolved"))[1]


def form_fields(html: str, action: str) -> dict:
    """The hidden fields (csrf, version, back) of the page's form that posts to .../`action`."""
    form = re.search(r'<form method="post" action="[^"]*/' + action + r'">(.*?)</form>', html, re.S).group(1)
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


async def test_a_reply_from_the_console_goes_to_the_resident_through_the_outbox(console, services):
    ticket = await new_ticket(services)
    await console.login()
    path = f"/staff/tickets/{ticket.number}"
    fields = form_fields((await console.get(path))[1], "reply")
    status, _, response = await console.post(f"{path}/reply", {**fields, "text": "明天上午电工上门更换"})
    assert status == 303 and response.headers["Location"].startswith(f"{path}?done=reply")
    assert "已发送给居民" in (await console.get(response.headers["Location"]))[1]
    (chat, text), = rows(services, "select chat_id, text from outboxmessage where purpose = 'reply'")
    assert chat == "r1" and "明天上午电工上门更换" in text
    (chat, text), = rows(services, "select chat_id, text from outboxmessage where purpose = 'console'")
    assert chat == MODERATION_CHAT and "web:wang" in text and "明天上午电工上门更换" in text  # Telegram staff see it
    assert rows(services, "select actor, note from ticketevent where kind = 'reply'") == [("web:wang", "明天上午电工上门更换")]
    assert rows(services, "select first_response_at is not null from ticket") == [(1,)]
    await staff.relay_reply(ticket, "电工已到", "staff:7 @wang_tg", services)  # the same member, in the moderation chat
    await staff.relay_reply(ticket, "我也看看", "staff:8 @zhang", services)  # someone without an account
    async with services.store.transaction() as session:
        await accounts.link_telegram(session, "wang", "7")
    page = (await console.get(path))[1]
    assert "<td>wang(网页)</td>" in page and "明天上午电工上门更换" in page
    assert "<td>wang(Telegram)</td>" in page and "<td>staff:8 @zhang</td>" in page
    assert Pseudonyms(b"k").actor("web:wang", 1) == "工作人员 wang"  # the export names the account as staff


async def test_a_status_change_and_its_note_are_one_message_and_a_stale_page_changes_nothing(console, services):
    ticket = await new_ticket(services)
    await console.login()
    path = f"/staff/tickets/{ticket.number}"
    html = (await console.get(path))[1]
    control = re.search(r'<select name="state">(.*?)</select>', html, re.S).group(1)
    offered = re.findall(r'<option value="(\w+)"( selected)?>', control)
    assert offered[0] == ("new", " selected") and {s for s, _ in offered} == {"new", "acknowledged", "in_progress", "resolved",
                                                                             "rejected"}
    fields = form_fields(html, "reply")
    status, html, _ = await console.post(f"{path}/reply", {**fields, "state": "resolved", "text": ""})
    assert status == 400 and "请填写给居民的内容" in html  # the note to the resident is required
    status, _, response = await console.post(f"{path}/reply", {**fields, "state": "in_progress", "text": "已派人查看"})
    assert status == 303 and "状态已更改" in (await console.get(response.headers["Location"]))[1]
    (chat, text), = rows(services, "select chat_id, text from outboxmessage where chat_id = 'r1'")  # one message
    assert "已派人查看" in text
    (text,), = rows(services, "select text from outboxmessage where purpose = 'console'")
    assert "处理中" in text and "已派人查看" in text
    assert rows(services, "select actor, from_status, to_status from ticketevent where kind = 'status'") == [
        ("web:wang", "new", "in_progress")]
    status, html, _ = await console.post(f"{path}/reply", {**fields, "state": "rejected", "text": "不归我们管"})  # the old page
    assert status == 409 and "此工单在您打开后已被修改" in html
    assert rows(services, "select status from ticket") == [("in_progress",)]
    fields = form_fields(html, "reply")  # the page as it is now
    status, html, _ = await console.post(f"{path}/reply", {**fields, "state": "acknowledged", "text": "再看看"})
    assert status == 409 and 'class="problem"' in html and "不能改为所选状态" in html
    assert rows(services, "select status from ticket") == [("in_progress",)]


async def test_notes_and_assignment_stay_internal(console, services):
    ticket = await new_ticket(services)
    await console.login()
    path = f"/staff/tickets/{ticket.number}"
    await console.post(f"{path}/note", {**form_fields((await console.get(path))[1], "note"), "text": "需城管配合"})
    html = (await console.get(path))[1]
    assert (await console.post(f"{path}/assign", {**form_fields(html, "assign"), "assignee": "nobody"}))[0] == 400
    await console.post(f"{path}/assign", {**form_fields(html, "assign"), "assignee": "li"})
    assert rows(services, "select actor, kind, note, public from ticketevent where kind in ('note', 'assign') order by id") == [
        ("web:wang", "note", "需城管配合", 0), ("web:wang", "assign", "li", 0)]
    assert rows(services, "select assignee from ticket") == [("li",)]
    other = await new_ticket(services, user="r2", text="另一件事")
    other_path = f"/staff/tickets/{other.number}"
    await console.post(f"{other_path}/assign", {**form_fields((await console.get(other_path))[1], "assign"), "assignee": "wang"})
    mine = (await console.get("/staff/?view=mine"))[1]
    assert other.number in mine and ticket.number not in mine and re.search(r"我的 <b>1</b>", mine)
    assert rows(services, "select count(*) from outboxmessage") == [(0,)]


async def test_a_reply_in_the_moderation_chat_is_not_echoed_back_to_it(services):
    office = replace(services, tickets=TicketRules(moderation_chat=MODERATION_CHAT))
    ticket = await new_ticket(services)
    await staff.relay_reply(ticket, "收到", "staff:7 @wang", office)
    assert rows(services, "select chat_id, purpose from outboxmessage") == [("r1", "reply")]


async def test_canned_reply_category_and_duplicate_through_the_chats_functions(console, services):
    first = await new_ticket(services, user="r1")
    second = await new_ticket(services, user="r2", text="楼道路灯又坏了")
    await console.login()
    path = f"/staff/tickets/{second.number}"
    html = (await console.get(path, params={"canned": "received"}))[1]  # put in the reply box, for editing
    assert re.search(r'<textarea id="reply-text" name="text" rows="4" required>您反映的问题我们已收到', html)
    assert "已收到,正在安排" in html  # the canned replies by their Chinese titles
    assert rows(services, "select count(*) from outboxmessage where purpose = 'reply'") == [(0,)]  # nothing sent yet
    assert (await console.post(f"{path}/category", {**form_fields(html, "category"), "category": "nonsense"}))[0] == 400
    await console.post(f"{path}/category", {**form_fields(html, "category"), "category": "property"})
    assert rows(services, "select category from ticket where id = ?", second.id) == [("property",)]
    html = (await console.get(path))[1]
    fields = form_fields(html, "duplicate")
    for target in (second.number, str(first.id), first.number[3:]):  # itself; a short id or a part is not enough
        assert (await console.post(f"{path}/duplicate", {**fields, "target": target}))[0] == 400
    status, _, response = await console.post(f"{path}/duplicate", {**fields, "target": first.number.lower()})
    assert status == 303
    html = (await console.get(response.headers["Location"]))[1]
    assert f'<form method="post" action="{path}/unmerge">' in html
    assert re.search(r"<title>[^<]*</title>", html)  # the forms are in the page, not in its title
    assert rows(services, "select status, duplicate_of from ticket where id = ?", second.id) == [("duplicate", first.id)]
    assert second.number in (await console.get(f"/staff/tickets/{first.number}"))[1]  # the original lists it
    await console.post(f"{path}/unmerge", form_fields(html, "unmerge"))
    assert rows(services, "select status, duplicate_of from ticket where id = ?", second.id) == [("new", None)]
    assert rows(services, "select distinct actor from ticketevent where ticket_id = ? and actor != 'resident'", second.id) == [
        ("web:wang",)]
    assert (await console.post(f"{path}/explode", fields))[0] == 404


async def test_exports_of_any_days_are_made_and_downloaded_and_nothing_else(console, services, tmp_path):
    await new_ticket(services)
    await console.login()
    status, html, _ = await console.get("/staff/exports")
    assert status == 200 and "还没有导出文件" in html
    token = csrf_of(html)
    status, html, _ = await console.post("/staff/exports", {"from": "2026-13-01", "to": "", "csrf": token})
    assert status == 400 and "日期有误" in html
    today = utcnow().astimezone(SHANGHAI).date().isoformat()
    status, _, response = await console.post("/staff/exports", {"from": today, "to": today, "csrf": token})
    assert (status, response.headers["Location"]) == (303, "/staff/exports?made=1")  # post / redirect / get
    html = (await console.get(response.headers["Location"]))[1]
    name = f"tangqiao-{today.replace('-', '')}-{today.replace('-', '')}-summary.html"
    assert f'href="/staff/exports/{name}"' in html and "已生成" in html and f"{today} — {today}" in html
    assert rows(services, "select made_by from exportrecord") == [("web:wang",)]
    status, body, response = await console.get(f"/staff/exports/{name}")
    assert status == 200 and "塘桥街道居民服务周报" in body
    assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
    (tmp_path / "secret.txt").write_text("not an export")
    for other in ("..%2Fsecret.txt", "%2E%2E%2Fbot.db", "bot.db"):
        assert (await console.get(f"/staff/exports/{other}"))[0] == 404

async def test_the_accounts_page_is_for_administrators_only(console):
    await console.login("li")
    status, _, _ = await console.get("/staff/accounts")
    assert status == 403
    console.http.cookie_jar.clear()
    await console.login("wang")
    status, html, _ = await console.get("/staff/accounts")
    assert status == 200 and "<b>li</b>" in html


async def test_opinions_by_category_similar_ones_as_themes_phones_masked(console, services):
    resident = await services.store.resident("telegram", "r1")
    first = await services.store.add_opinion(resident.id, "希望多开几次居民议事会", category="participation")
    await services.store.add_opinion(resident.id, "议事会能不能晚上开,电话13812345678", category="participation")
    await services.store.add_opinion(resident.id, "居民议事会能不能多开几次", category="participation")
    await services.store.add_opinion(resident.id, "希望多开几次居民议事会!", category="participation")
    await services.store.add_opinion(resident.id, "宝宝屋周六也能开放就好了", category="childcare")
    old = await services.store.add_opinion(resident.id, "去年的意见", category="childcare")
    rows(services, "update opinion set created_at = ? where id = ?", utcnow() - timedelta(days=10), old)
    rows(services, "update opinion set created_at = ? where id = ?", utcnow() - timedelta(hours=1), first)
    await console.login()
    status, html, _ = await console.get("/staff/opinions")
    assert status == 200
    assert html.index(" × 4</h2>") < html.index(" × 1</h2>")  # the commonest category first
    theme = re.search(r"<li><b>希望多开几次居民议事会!</b> × 3 .*?</ul>", html, re.S)  # the newest names the theme
    assert theme and "居民议事会能不能多开几次" in theme.group() and "希望多开几次居民议事会</li>" in theme.group()
    assert "<li><b>议事会能不能晚上开,电话138****5678</b> × 1" in html  # not like the others; phone masked
    assert html.index("× 3") < html.index("议事会能不能晚上开")  # the largest theme first
    assert "13812345678" not in html
    assert "去年的意见" not in html and "去年的意见" in (await console.get("/staff/opinions?days=30"))[1]


async def test_the_queue_filters_by_place_and_by_neighbourhood_committee(console, services):
    """A ticket's area is its lane, else its estate, else its road (handlers/rules/places.py area_of); a
    committee (COMMITTEES_FILE) looks after areas, a road covering all its lanes."""
    places = {"a": "上海市浦东新区峨山路九十一弄五号楼", "b": "峨山路 101 弄 3 号", "c": "金浦小区12号楼门口",
              "d": "东方路1000号", "e": "浦东南路1111弄2号", "f": ""}
    made = {user: await new_ticket(services, user=user, text=f"问题{user}", place=place) for user, place in places.items()}
    assert {u: t.area for u, t in made.items()} == {"a": "峨山路91弄", "b": "峨山路101弄", "c": "金浦小区", "d": "东方路",
                                                   "e": "浦东南路1111弄", "f": ""}
    await console.login()

    async def listed(query: str) -> set[str]:
        status, html, _ = await console.get(f"/staff/?{query}")
        assert status == 200
        return {u for u, t in made.items() if f">{t.number}</a>" in html}

    status, html, _ = await console.get("/staff/")
    assert '<option value="峨山路91弄">峨山路91弄 (1)</option>' in html and ">东方居委会</option>" in html
    assert await listed("place=峨山路91弄") == {"a"}
    assert await listed("place=峨山路") == {"a", "b"}  # the road: every lane of it
    assert await listed("committee=峨山路居委会") == {"a", "b", "c"}
    assert await listed("committee=东方居委会") == {"d"}  # not 浦东南路 (东方 is not its start)
    assert await listed("committee=no such one") == set(places)
    assert await listed("place=%25") == set()  # the LIKE wildcard is escaped: no area starts with "%"


async def test_the_migration_gives_the_tickets_already_there_their_area(tmp_path):
    """0011_ticket_area fills the new column by area_of for a database at the revision before it."""
    import sqlite3

    from alembic import command

    from db import migrations
    from db.engine import make_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(migrations.config(connection=c), "0010_opinion_marks"))
    await engine.dispose()
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("insert into resident (channel, user_id, created_at) values ('telegram', '1', '2026-11-30 00:00:00')")
        for n, place in enumerate(["峨山路九十一弄五号楼", "", "金浦小区3号楼"]):
            db.execute("insert into ticket (number, source_key, resident_id, channel, chat_id, category, text, place, photos,"
                       " status, awaiting_resident, resident_blocked, created_at, response_due, resolution_due) values "
                       "(?, ?, 1, 'telegram', '1', 'noise', 't', ?, '[]', 'new', 0, 0, ?, ?, ?)",
                       (f"TQ-2611-000{n}", f"k{n}", place, *["2026-11-30 00:00:00"] * 3))
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(migrations.config(connection=c), "head"))
    await engine.dispose()
    assert query_rows_sqlite(tmp_path / "old.db", "select area from ticket order by id") == [("峨山路91弄",), ("",), ("金浦小区",)]


class TestPhotos:
    """A resident's photos on the ticket page: a Telegram photo fetched through the Bot API (the fake's
    getFile and file download), a WeChat photo as kept at intake (never fetched from a URL), kept on
    disk, for signed-in staff only."""

    @pytest.fixture
    async def fake_api(self):
        async with FakeBotApi() as server:
            yield server

    @pytest.fixture
    async def picture_server(self):
        """A loopback server that counts the requests it gets (the console must send none)."""
        hits: list[str] = []

        async def picture(request):
            hits.append(request.path)
            if request.match_info["name"] == "photo.jpg":
                return web.Response(body=b"\x89PNG\r\n\x1a\nwechat picture", content_type="image/png")
            return web.Response(body=b"<html>not a picture</html>", content_type="text/html")

        app = web.Application()
        app.router.add_get("/{name}", picture)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        server.hits = hits
        yield server
        await server.close()

    @pytest.fixture
    def console_env(self, fake_api, tmp_path):
        return {"TELEGRAM_BOT_TOKEN": fake_api.token, "TELEGRAM_BASE_URL": fake_api.base_url,
                "PHOTO_DIR": str(tmp_path / "photos")}

    async def test_a_telegram_photo_is_fetched_once_and_shown_to_staff_only(self, console, services, fake_api, tmp_path):
        fake_api.push_photo(4242, "AgACphoto-1")  # the fake issues the file id, as for a resident's photo
        ticket = await new_ticket(services)
        rows(services, "update ticket set photos = ? where id = ?", '["AgACphoto-1", "AgACgone"]', ticket.id)
        path = f"/staff/files/{ticket.number}/0"
        status, _, response = await console.get(path)
        assert (status, response.headers["Location"]) == (303, "/staff/login")
        assert not [c for c in fake_api.calls if c.method in ("getFile", "file")]  # nothing fetched for no one
        await console.login()
        status, html, _ = await console.get(f"/staff/tickets/{ticket.number}")
        assert f'<img src="{path}"' in html and f'<img src="/staff/files/{ticket.number}/1"' in html
        for _ in range(2):
            async with console.http.get(console.url(path)) as response:
                assert response.status == 200 and response.content_type == "image/jpeg"
                assert await response.read() == fake_api.file_content("AgACphoto-1")
        assert [(c.method, c.params.get("file_id") or c.params.get("path")) for c in fake_api.calls
                if c.method in ("getFile", "file")] == [("getFile", "AgACphoto-1"), ("file", "photos/AgACphoto-1.jpg")]
        assert [p.read_bytes() for p in (tmp_path / "photos").iterdir()] == [fake_api.file_content("AgACphoto-1")]
        assert (await console.get(f"/staff/files/{ticket.number}/1"))[0] == 404  # the Bot API does not know it
        assert (await console.get(f"/staff/files/{ticket.number}/2"))[0] == 404  # no third photo
        assert (await console.get("/staff/files/TQ-0000-0000/0"))[0] == 404

    async def test_a_wechat_photo_is_served_as_kept_at_intake_and_a_url_is_never_fetched(self, console, services,
                                                                                        picture_server, tmp_path):
        from bot.photo_files import PhotoFiles

        ticket = await new_ticket(services)
        urls = [str(picture_server.make_url("/photo.jpg")), "file:///etc/passwd", "MEDIA_ID_kept", "MEDIA_ID_not_kept"]
        rows(services, "update ticket set channel = 'wechat', photos = ? where id = ?", json.dumps(urls), ticket.id)
        PhotoFiles(tmp_path / "photos", None, None).keep("wechat", "MEDIA_ID_kept", b"\x89PNG\r\n\x1a\nwechat picture")
        await console.login()
        for index in (0, 1, 3):  # a URL (a ticket from before) or a path: never fetched; a MediaId not kept: gone
            assert (await console.get(f"/staff/files/{ticket.number}/{index}"))[0] == 404
        async with console.http.get(console.url(f"/staff/files/{ticket.number}/2")) as response:
            assert response.status == 200 and response.content_type == "image/png"
            assert await response.read() == b"\x89PNG\r\n\x1a\nwechat picture"
        assert picture_server.hits == []


async def test_a_theme_marked_read_then_answered_stays_so_until_a_new_opinion_joins_it(console, services):
    resident = await services.store.resident("telegram", "r1")
    for text in ("希望多开几次居民议事会", "居民议事会能不能多开几次", "宝宝屋周六也能开放就好了"):
        await services.store.add_opinion(resident.id, text, category="participation")
    old = await services.store.add_opinion(resident.id, "上个月的意见:希望多开几次居民议事会", category="participation")
    rows(services, "update opinion set created_at = ? where id = ?", utcnow() - timedelta(days=40), old)
    await console.login()

    def theme_of(html: str, text: str) -> str:
        return re.search(r"<li><b>" + text + r"</b>.*?</li>", html, re.S).group()

    status, html, _ = await console.get("/staff/opinions")
    assert "2 条未读" in theme_of(html, "居民议事会能不能多开几次")
    form = re.search(r'<form method="post" action="/staff/opinions/mark".*?</form>', theme_of(html, "居民议事会能不能多开几次"),
                     re.S).group()
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
    assert fields["state"] == "read" and fields["back"] == "/staff/opinions"
    assert (await console.post("/staff/opinions/mark", {**fields, "csrf": "forged"}))[0] == 403
    status, _, response = await console.post("/staff/opinions/mark", fields)
    assert (status, response.headers["Location"]) == (303, "/staff/opinions")
    html = (await console.get("/staff/opinions"))[1]
    assert "已读" in theme_of(html, "居民议事会能不能多开几次")
    assert "1 条未读" in theme_of(html, "宝宝屋周六也能开放就好了")  # the other theme is untouched
    assert sorted(rows(services, "select text, handled, handled_by from opinion where handled is not null")) == [
        ("居民议事会能不能多开几次", "read", "web:wang"), ("希望多开几次居民议事会", "read", "web:wang")]
    assert rows(services, "select handled from opinion where id = ?", old) == [(None,)]  # not in the page's range

    await console.post("/staff/opinions/mark", {**fields, "state": "answered"})
    assert "✔ 已答复" in theme_of((await console.get("/staff/opinions"))[1], "居民议事会能不能多开几次")
    await services.store.add_opinion(resident.id, "希望多开几次居民议事会!", category="participation")
    theme = theme_of((await console.get("/staff/opinions"))[1], "希望多开几次居民议事会!")
    assert "× 3" in theme and "1 条未读" in theme  # a newcomer makes the theme unread again
    await console.post("/staff/opinions/mark", fields)  # the older page's form: its themes, not the newcomer
    assert rows(services, "select handled from opinion where text = ?", "希望多开几次居民议事会!") == [(None,)]
    assert (await console.post("/staff/opinions/mark", {**fields, "theme": str(old)}))[0] == 409  # no such theme

    this_week = today_in_shanghai() - timedelta(days=today_in_shanghai().weekday())
    status, html, _ = await console.get(f"/staff/opinions?week={this_week - timedelta(days=21)}")  # none then
    assert status == 200 and "上个月的意见" not in html and "这段时间没有意见" in html
    old_week = (utcnow() - timedelta(days=40)).astimezone(SHANGHAI).date()
    html = (await console.get(f"/staff/opinions?week={old_week}"))[1]
    assert "上个月的意见" in html and "宝宝屋" not in html


async def test_the_dashboard_shows_this_weeks_export_figures(console, services):
    await new_ticket(services, user="r1")
    await new_ticket(services, user="r2", text="垃圾房三天没清运")
    await console.login()
    status, html, _ = await console.get("/staff/dashboard")
    assert status == 200 and "塘桥街道居民服务周报" in html
    assert '<div class="value">0 / 2</div>' in html  # opinions / tickets of this week
    assert "<svg" in html and "<script" not in html


async def test_the_dashboard_draws_twelve_weeks_of_the_exports_figures_and_lists_the_alerts(console, services, tmp_path):
    """The trend's weeks hold what the weekly export of that week says (one code path), and the
    emergency alerts (recorded whatever the channels) are listed, phone numbers masked."""
    from handlers.router import handle
    from handlers.types import Inbound

    today = today_in_shanghai()
    monday = today - timedelta(days=today.weekday())
    weeks_ago = {3: 2, 7: 1}  # weeks back: tickets then
    for back, count in weeks_ago.items():
        at = datetime.combine(monday - timedelta(days=7 * back - 2), time(10), SHANGHAI).astimezone(UTC)
        for n in range(count):
            ticket = await new_ticket(services, user=f"w{back}-{n}", text=f"第{back}周的问题 {n}")
            async with services.store.transaction() as session:
                await session.exec(sa_update(Ticket).where(Ticket.id == ticket.id).values(created_at=at))
    await handle(Inbound("telegram", "r9", "r9", text="楼道里燃气泄漏了,味道很大,我电话 13912345678"), services)
    await console.login()
    status, html, _ = await console.get("/staff/dashboard")
    assert status == 200 and "<script" not in html
    assert "燃气泄漏" in html and "139****5678" in html and "13912345678" not in html and "gas" in html
    assert html.count('class="series"') == 5  # collected, resolved; first response, resolution; on time
    header = re.search(r"<th>分类</th>(.*?)</tr>", html, re.S).group(1)
    starts = re.findall(r"<th>(\d\d-\d\d)</th>", header)
    assert len(starts) == 12 and starts[-1] == f"{monday:%m-%d}"
    row = re.search(r"<td>" + re.escape(services.categories.title("facilities", "zh")) + r"</td>(.*?)</tr>", html, re.S).group(1)
    counts = [int(n) for n in re.findall(r'<td class="n">(\d+)</td>', row)]
    for back, count in weeks_ago.items():
        start = monday - timedelta(days=7 * back)
        exported = await build_export(services.store, services, start, start + timedelta(days=6), tmp_path, formats=())
        assert counts[11 - back] == exported.summary.ticket_count("facilities") == count
    assert sum(counts) == 3

    late = await new_ticket(services, user="w3-late", text="第3周的又一个问题")  # a finished week changes: shown at once
    at = datetime.combine(monday - timedelta(days=7 * 3 - 2), time(11), SHANGHAI).astimezone(UTC)
    rows(services, "update ticket set created_at = ? where id = ?", at, late.id)
    html = (await console.get("/staff/dashboard"))[1]
    row = re.search(r"<td>" + re.escape(services.categories.title("facilities", "zh")) + r"</td>(.*?)</tr>", html, re.S).group(1)
    assert [int(n) for n in re.findall(r'<td class="n">(\d+)</td>', row)][8] == 3


# -- in a real browser -----------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
async def page(console):
    """A page of Debian's Chromium driven by Playwright (no browser download); skips without them."""
    if not shutil.which("chromium"):
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.async_api")
    async with playwright.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = await browser.new_page()
        page.set_default_timeout(15_000)
        yield page
        await browser.close()


async def test_staff_sign_in_filter_the_queue_reply_and_resolve_in_a_browser(console, page, services):
    fresh = await new_ticket(services, text="楼道路灯坏了,联系我 13912345678", user="r1")
    late = await new_ticket(services, text="垃圾房三天没清运", category="sanitation", late=True, user="r2")
    await page.goto(console.url("/staff/"))
    assert page.url.endswith("/staff/login")
    await page.fill("input[name=username]", "wang")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/staff/")
    late_row = page.locator("tr", has_text=late.number)
    assert await late_row.get_attribute("class") == "late" and "超时" in await late_row.inner_text()
    assert "139****5678" in await page.locator("tr", has_text=fresh.number).inner_text()

    await page.click("nav.views a:has-text('超时')")
    await page.wait_for_url("**view=overdue**")
    assert await page.locator("tr", has_text=fresh.number).count() == 0

    await page.goto(console.url("/staff/"))
    await page.click(f"text={fresh.number}")
    await page.wait_for_url(f"**/staff/tickets/{fresh.number}**")
    await page.fill("#reply-text", "明天上午电工上门更换")
    await page.click("form[action$='/reply'] button")
    await page.wait_for_selector("p.done")
    assert "wang(网页)" in await page.locator("table").nth(1).inner_text()

    await page.select_option("form[action$='/reply'] select", "resolved")
    await page.fill("#reply-text", "灯已换好")
    await page.click("form[action$='/reply'] button")
    await page.wait_for_selector("p.done")
    assert "已办结" in await page.locator("h1").inner_text()
    sent = rows(services, "select chat_id, purpose from outboxmessage order by id")
    assert sent == [("r1", "reply"), (MODERATION_CHAT, "console"), ("r1", "status"), (MODERATION_CHAT, "console")]


async def test_a_refusal_from_the_console_needs_its_reason(console, services):
    ticket = await new_ticket(services)
    await console.login()
    path = f"/staff/tickets/{ticket.number}"
    fields = form_fields((await console.get(path))[1], "reply")
    status, html, _ = await console.post(f"{path}/reply", {**fields, "state": "rejected", "text": "驳回"})
    assert status == 400 and "不予受理必须写明原因" in html
    assert rows(services, "select status from ticket") == [("new",)]
    status, _, _ = await console.post(f"{path}/reply", {**fields, "state": "rejected", "text": "属于物业维修范围,请联系物业"})
    assert status == 303 and rows(services, "select status from ticket") == [("rejected",)]
    (text,), = rows(services, "select text from outboxmessage where chat_id = 'r1'")
    assert "原因:属于物业维修范围" in text and "12345" in text
