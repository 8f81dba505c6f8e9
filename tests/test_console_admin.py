"""The administrators' pages of the console (issue 23) over real HTTP on loopback: accounts,
committees and canned replies managed in the browser, every change logged, staff kept out."""
from __future__ import annotations

import re

import pytest

from db import accounts
from tests.test_staff_console import PASSWORD, csrf_of, new_ticket, rows
from tests.test_staff_console import console as console  # noqa: F401 (the fixtures, by their names)
from tests.test_staff_console import console_env as console_env  # noqa: F401

pytestmark = pytest.mark.both_databases
ADMIN_PAGES = ("/staff/accounts", "/staff/committees", "/staff/canned")


def _fields(html: str, action: str, name: str = "") -> dict:
    """The hidden fields of the form posting to `action` (the one for account/committee `name`)."""
    for form in re.findall(r'<form method="post" action="' + re.escape(action) + r'"[^>]*>(.*?)</form>', html, re.S):
        found = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
        if not name or found.get("name") == name or found.get("old_name") == name:
            return found
    raise AssertionError(f"no form posting to {action} for {name!r}")


async def test_staff_get_403_and_no_link_and_cannot_post(console):
    await console.login("li")
    html = (await console.get("/staff/"))[1]
    assert all(path not in html for path in ADMIN_PAGES)
    token = csrf_of(html)
    for path in ADMIN_PAGES:
        assert (await console.get(path))[0] == 403
    for path, form in (("/staff/accounts", {"name": "mole", "role": "admin"}),
                       ("/staff/accounts/profile", {"name": "li", "role": "admin"}),
                       ("/staff/committees", {"name": "x", "places": "峨山路"}),
                       ("/staff/canned/remove", {"name": "received"})):
        assert (await console.post(path, {**form, "csrf": token}))[0] == 403
    assert rows(console_services(console), "select is_admin from staffaccount where name = 'li'") == [(0,)]
    assert rows(console_services(console), "select count(*) from adminchange") == [(0,)]


def console_services(console):
    from bot.web_keys import SERVICES

    return console.server.app[SERVICES]


async def test_an_account_made_with_a_one_time_password_shown_once_then_managed(console, services):
    await console.login()
    html = (await console.get("/staff/accounts"))[1]
    assert 'href="/staff/accounts">管理</a>' in html
    token = csrf_of(html)
    assert (await console.post("/staff/accounts", {"csrf": "forged", "name": "zhao"}))[0] == 403
    status, _, response = await console.post("/staff/accounts", {"csrf": token, "name": "zhao", "team": "城管科", "role": "staff"})
    assert (status, response.headers["Location"]) == (303, "/staff/accounts?done=created")
    html = (await console.get(response.headers["Location"]))[1]
    once = re.search(r'<code style="font-size: 130%">(\w+)</code>', html).group(1)
    assert "账号已创建" in html and "一次性密码" in html and len(once) == 14
    assert once not in (await console.get("/staff/accounts"))[1]  # shown once only
    (stored,), = rows(services, "select password_hash from staffaccount where name = 'zhao'")
    assert stored.startswith("$argon2id$") and once not in stored
    assert rows(services, "select team, is_admin from staffaccount where name = 'zhao'") == [("城管科", 0)]

    other = type(console)(console.server)  # zhao signs in elsewhere with the one-time password
    try:
        assert (await other.login("zhao", once))[0] == 303
        html = (await console.get("/staff/accounts"))[1]
        await console.post("/staff/accounts/disable", _fields(html, "/staff/accounts/disable", "zhao"))
        assert (await other.get("/staff/"))[0] == 303  # the session ended
        assert (await other.login("zhao", once))[0] == 401
        html = (await console.get("/staff/accounts"))[1]
        await console.post("/staff/accounts/enable", _fields(html, "/staff/accounts/enable", "zhao"))
        new = "a password set by the admin"
        await console.post("/staff/accounts/password", {**_fields(html, "/staff/accounts/password", "zhao"), "password": new})
        assert (await other.login("zhao", new))[0] == 303
    finally:
        await other.http.close()
    html = (await console.get("/staff/accounts"))[1]
    status, _, _ = await console.post("/staff/accounts/profile", {**_fields(html, "/staff/accounts/profile", "zhao"),
                                                                 "team": "市容科", "role": "admin"})
    assert status == 303 and rows(services, "select team, is_admin from staffaccount where name = 'zhao'") == [("市容科", 1)]
    html = (await console.get("/staff/accounts"))[1]
    assert (await console.post("/staff/accounts", {"csrf": token, "name": "zhao", "password": "x"}))[0] == 400
    short = (await console.post("/staff/accounts", {"csrf": token, "name": "qian", "password": "short"}))[1]
    assert "密码至少 10 个字符" in short and 'value="qian"' in short  # the form as typed, the error in red
    logged = rows(services, "select actor, target, what from adminchange where kind = 'account' order by id")
    assert logged == [("web:wang", "zhao", "created, team 城管科, one-time password"), ("web:wang", "zhao", "disabled"),
                      ("web:wang", "zhao", "enabled"), ("web:wang", "zhao", "new password"),
                      ("web:wang", "zhao", "team 城管科 -> 市容科; staff -> administrator")]
    assert "team 城管科 -&gt; 市容科" in html and "web:wang" not in html  # the log under the page, by account name


async def test_a_chinese_name_gets_its_one_time_password_too(console, services):
    await console.login()
    token = await console.csrf("/staff/accounts")
    status, _, response = await console.post("/staff/accounts", {"csrf": token, "name": "张:三", "role": "staff"})
    html = (await console.get(response.headers["Location"]))[1]
    once = re.search(r'<code style="font-size: 130%">(\w+)</code>', html).group(1)
    assert "<b>张:三</b> 的一次性密码" in html
    other = type(console)(console.server)
    try:
        assert (await other.login("张:三", once))[0] == 303
    finally:
        await other.http.close()


async def test_the_last_administrator_can_be_neither_disabled_nor_made_staff(console, services):
    await console.login()
    html = (await console.get("/staff/accounts"))[1]
    status, page, _ = await console.post("/staff/accounts/disable", _fields(html, "/staff/accounts/disable", "wang"))
    assert status == 409 and "最后一个管理员" in page and 'class="problem"' in page
    status, _, _ = await console.post("/staff/accounts/profile", {**_fields(html, "/staff/accounts/profile", "wang"),
                                                                 "role": "staff"})
    assert status == 409
    assert rows(services, "select is_admin, disabled from staffaccount where name = 'wang'") == [(1, 0)]
    await console.post("/staff/accounts/profile", {**_fields(html, "/staff/accounts/profile", "li"), "role": "admin"})
    assert (await console.post("/staff/accounts/disable", _fields(html, "/staff/accounts/disable", "wang")))[0] == 303
    async with services.store.transaction() as session:  # li is now the last one
        with pytest.raises(accounts.AccountError):
            await accounts.disable(session, "li")


async def test_committees_start_from_the_file_and_the_queue_follows_the_office_list(console, services):
    lane = await new_ticket(services, user="r1", place="峨山路91弄5号楼", phone=None)
    east = await new_ticket(services, user="r2", place="浦东南路1000号", phone=None)
    await console.login()
    html = (await console.get("/staff/committees"))[1]
    assert "峨山路居委会" in html and "东方居委会" in html  # the seed, COMMITTEES_FILE
    token = csrf_of(html)
    bad = (await console.post("/staff/committees", {"csrf": token, "name": "浦东南路居委会", "places": "浦东南路",
                                                    "phone": "call me"}))
    assert bad[0] == 400 and "电话只能填数字" in bad[1]
    status, _, response = await console.post("/staff/committees", {"csrf": token, "name": "浦东南路居委会",
                                                                   "places": "浦东南路、金浦小区", "phone": "021-5888 0000"})
    assert (status, response.headers["Location"]) == (303, "/staff/committees?done=saved")
    assert rows(services, "select name from committee order by name") == [("东方居委会",), ("峨山路居委会",), ("浦东南路居委会",)]
    html = (await console.get("/staff/committees"))[1]
    await console.post("/staff/committees/remove", _fields(html, "/staff/committees/remove", "东方居委会"))
    await console.post("/staff/committees", {**_fields(html, "/staff/committees", "峨山路居委会"), "name": "峨山居委会",
                                             "places": "峨山路91弄", "phone": ""})
    queue = (await console.get("/staff/"))[1]
    assert "东方居委会" not in queue and "峨山居委会" in queue and "浦东南路居委会" in queue
    mine = (await console.get("/staff/?view=committee:浦东南路居委会"))[1]
    assert east.number in mine and lane.number not in mine
    logged = [what for (what,) in rows(services, "select what from adminchange where kind = 'committee' order by id")]
    assert logged == ["copied 2 from COMMITTEES_FILE", "added: 浦东南路、金浦小区; phone 021-5888 0000", "removed",
                      "renamed from 峨山路居委会; places 峨山路、金浦小区 -> 峨山路91弄"]


async def test_canned_replies_edited_with_a_preview_added_removed_and_used_on_a_ticket(console, services):
    ticket = await new_ticket(services)
    await console.login()
    html = (await console.get("/staff/canned?edit=received"))[1]
    assert "已收到,正在安排" in html and "您反映的问题我们已收到" in html
    fields = _fields(html, "/staff/canned")
    text = "您反映的问题已收到,<b>我们</b>会在两个工作日内联系您。"
    status, preview, _ = await console.post("/staff/canned", {**fields, "title_zh": "已收到", "title_en": "Received",
                                                              "text": text, "preview": "1"})
    assert status == 200 and "预览" in preview and "&lt;b&gt;我们&lt;/b&gt;" in preview
    assert rows(services, "select count(*) from cannedreply") == [(0,)]  # a preview saves nothing
    status, _, response = await console.post("/staff/canned", {**fields, "title_zh": "已收到", "title_en": "Received",
                                                               "text": text})
    assert (status, response.headers["Location"]) == (303, "/staff/canned?done=saved")
    token = csrf_of(html)
    await console.post("/staff/canned", {"csrf": token, "new": "1", "name": "noise_night", "title_zh": "夜间噪声",
                                         "text": "夜间施工噪声请直接拨打 12345 反映。"})
    assert (await console.post("/staff/canned", {"csrf": token, "new": "1", "name": "Bad Name", "title_zh": "x",
                                                 "text": "y"}))[0] == 400
    await console.post("/staff/canned/remove", {"csrf": token, "name": "site_visit"})
    page = (await console.get(f"/staff/tickets/{ticket.number}"))[1]
    assert "夜间噪声" in page and "将上门查看" not in page
    page = (await console.get(f"/staff/tickets/{ticket.number}", params={"canned": "received"}))[1]
    assert "会在两个工作日内联系您" in page  # the office's text goes into the reply box
    assert [w for (w,) in rows(services, "select what from adminchange where kind = 'canned' order by id")] == [
        "title 已收到,正在安排 -> 已收到; English title Received, being arranged -> Received; text 37 -> 31 characters",
        "added: 夜间噪声", "removed: 将上门查看"]


async def test_the_moderation_chats_reply_command_uses_the_office_list(console, services):
    from db import canned
    from handlers import canned as canned_replies

    async with services.store.transaction() as session:
        await canned.save(session, "web:wang", canned_replies.seed(services), "resolved", "已处理完毕", "Dealt with",
                          "已经修好了,谢谢您。", new=False, now=services.clock())
    found = await canned_replies.replies(services)
    assert found["resolved"].text == "已经修好了,谢谢您。" and found["received"].seeded and not found["received"].edited
    assert PASSWORD  # the fixtures' accounts are unused here: the chat's function reads the same list


async def test_the_dashboard_counts_per_assignee_in_one_language(console, services):
    from datetime import timedelta

    from db.models import utcnow

    late = await new_ticket(services, user="r1", late=True, phone=None)
    mine = await new_ticket(services, user="r2", phone=None)
    answered = await new_ticket(services, user="r3", phone=None)
    await new_ticket(services, user="r4", phone=None)
    rows(services, "update ticket set assignee = 'li' where id in (?, ?)", late.id, mine.id)
    rows(services, "update ticket set assignee = '@wang', first_response_at = ?, status = 'acknowledged' where id = ?",
         utcnow() - timedelta(minutes=5), answered.id)
    await console.login()
    html = (await console.get("/staff/dashboard"))[1]
    table = html[html.index("按承办人"):]
    cells = re.findall(r"<tr><td>([^<]+)</td><td class=\"n\">(\d+)</td><td class=\"n\">(?:<span[^>]*>)?(\d+)", table)
    assert cells[:3] == [("li", "2", "1"), ("wang", "1", "0"), ("未交办", "1", "0")]
    assert re.search(r"<td>wang</td>.*?<td class=\"n\">1 / 1</td>", table, re.S)  # answered on time this week
    for doubled in ("紧急情况提醒 Emergency", "分类 Category", "(无 none)", "Collected and resolved", "By assignee"):
        assert doubled not in html
    async with services.store.transaction() as session:
        await accounts.set_profile(session, "li", language="en")
    console.http.cookie_jar.clear()
    await console.login("li")
    english = (await console.get("/staff/dashboard"))[1]
    assert 'lang="en"' in english and "By assignee" in english and "Emergency alerts" in english
    assert "按承办人" not in english and "紧急情况提醒" not in english and "主要数字" not in english


async def test_the_finished_weeks_are_kept_while_only_this_weeks_tickets_change(console, services, monkeypatch):
    """A new ticket of this week leaves the 12 finished weeks' figures as they were (not computed
    again); a change to an older ticket reaches back and they are."""
    from datetime import UTC, datetime, time, timedelta

    from bot.export import figures
    from handlers.reports import today_in_shanghai

    computed = []
    original = figures.figures

    async def counting(conn, services_, start, end, now):
        computed.append(start)
        return await original(conn, services_, start, end, now)

    monkeypatch.setattr(figures, "figures", counting)
    monkeypatch.setattr(figures, "_finished", {})
    monday = today_in_shanghai() - timedelta(days=today_in_shanghai().weekday())
    old = await new_ticket(services, user="old", phone=None)
    rows(services, "update ticket set created_at = ? where id = ?",
         datetime.combine(monday - timedelta(days=12), time(10)).replace(tzinfo=UTC), old.id)
    await console.login()
    assert (await console.get("/staff/dashboard"))[0] == 200
    finished = [start for start in computed if start < monday]
    assert len(set(finished)) == 11  # the trend's 11 finished weeks (the 12th is this one)
    computed.clear()
    await new_ticket(services, user="new", phone=None)  # this week's
    assert (await console.get("/staff/dashboard"))[0] == 200
    assert [start for start in computed if start < monday - timedelta(days=7)] == []  # only this week and its comparison
    computed.clear()
    from handlers import staff

    await staff.add_note(old, "已联系物业", "web:wang", services)  # a change to a ticket of a finished week
    assert (await console.get("/staff/dashboard"))[0] == 200
    assert monday - timedelta(days=14) in computed  # the old ticket's week, computed again


async def test_every_admin_post_needs_the_sessions_csrf_token(console, services):
    await console.login()
    html = (await console.get("/staff/accounts"))[1]
    for path, form in (("/staff/accounts", {"name": "mole", "password": "a long passphrase"}),
                       ("/staff/accounts/profile", {"name": "li", "role": "admin"}),
                       ("/staff/accounts/disable", {"name": "li"}), ("/staff/accounts/enable", {"name": "li"}),
                       ("/staff/accounts/password", {"name": "li", "password": "a long passphrase"}),
                       ("/staff/committees", {"name": "x", "places": "峨山路"}), ("/staff/committees/remove", {"name": "东方居委会"}),
                       ("/staff/canned", {"name": "x", "new": "1", "title_zh": "x", "text": "y"}),
                       ("/staff/canned/remove", {"name": "received"})):
        for token in ({}, {"csrf": "forged"}):
            assert (await console.post(path, {**form, **token}))[0] == 403, path
    assert rows(services, "select count(*) from adminchange") == [(0,)]
    assert csrf_of(html)  # the page itself carries the token its forms send
