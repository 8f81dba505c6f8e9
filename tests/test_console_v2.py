"""The staff console v2 (issue 23) over real HTTP on loopback: privacy by default, triage, post /
redirect / get, versions, search, Chinese first."""
from __future__ import annotations

import re

import pytest

from tests.test_staff_console import console as console  # noqa: F401 (the fixtures, by their names)
from tests.test_staff_console import console_env as console_env  # noqa: F401
from tests.test_staff_console import csrf_of, new_ticket, rows

pytestmark = pytest.mark.both_databases


async def test_numbers_are_masked_until_show_is_pressed_and_the_look_is_logged(console, services):
    ticket = await new_ticket(services, text="灯坏了,身份证 310101198001011234,电话 139.1234.5678", phone="13812345678")
    await console.login()
    path = f"/staff/tickets/{ticket.number}"
    status, html, _ = await console.get(path)
    assert status == 200
    for number in ("13812345678", "310101198001011234", "139.1234.5678", "1234.5678"):
        assert number not in html
    assert "138****5678" in html and "139****5678" in html and "310101********1234" in html
    status, html, response = await console.post(f"{path}/reveal", {"csrf": csrf_of(html)})
    assert status == 200 and "13812345678" in html and "139.1234.5678" in html
    assert response.headers["Cache-Control"] == "no-store"
    (actor, kind, public), = rows(services, "select actor, kind, public from ticketevent where kind = 'reveal'")
    assert (actor, public) == ("web:wang", 0)
    again = (await console.get(path))[1]
    assert "13812345678" not in again and "wang" in again  # masked again; the history says who looked


async def test_the_dashboard_has_the_console_bar_the_backlog_and_says_the_week_is_partial(console, services):
    from handlers.reports import today_in_shanghai

    await new_ticket(services, user="r1", late=True)
    await new_ticket(services, user="r2")
    await console.login()
    status, html, _ = await console.get("/staff/dashboard")
    assert status == 200 and html.index("<header") < html.index("<h1")
    assert "未办结 2</a>" in html and "超时 1</a>" in html  # the queue's own counts
    days = today_in_shanghai().weekday() + 1
    assert (f"本周截至今天只有 {days} 天" in html) == (days < 7)


async def test_pages_say_the_total_and_every_ticket_is_on_one_of_them(console, services):
    from bot.staff_queue import PAGE_SIZE

    made = [await new_ticket(services, user=f"r{n}", text=f"第{n}件事", phone=None) for n in range(PAGE_SIZE + 7)]
    await console.login()
    first = (await console.get("/staff/"))[1]
    assert f"共 {len(made)} 件" in first and "第 1 / 2 页" in first and "下一页" in first
    second = (await console.get("/staff/?page=2"))[1]
    shown = set(re.findall(r">(TQ-\d{4}-\d{4})</a>", first)) | set(re.findall(r">(TQ-\d{4}-\d{4})</a>", second))
    assert shown == {t.number for t in made}
    assert "第 2 / 2 页" in (await console.get("/staff/?page=999"))[1]  # past the end: the last page


async def test_the_ticked_tickets_are_assigned_or_acknowledged_at_once(console, services):
    made = [await new_ticket(services, user=f"r{n}", text=f"第{n}件事") for n in range(3)]
    await console.login()
    html = (await console.get("/staff/?view=new"))[1]
    token = csrf_of(html)
    ticked = [str(t.id) for t in made[:2]]
    status, _, response = await console.post("/staff/bulk", {"csrf": token, "back": "/staff/?view=new", "ids": ticked,
                                                             "action": "assign", "assignee": "li"})
    assert status == 303 and response.headers["Location"] == "/staff/?view=new&done=2"
    assert rows(services, "select assignee from ticket order by id") == [("li",), ("li",), (None,)]
    status, _, response = await console.post("/staff/bulk", {"csrf": token, "back": "/staff/?view=new", "ids": ticked,
                                                             "action": "status", "state": "acknowledged", "text": ""})
    assert "problem=bulk" in response.headers["Location"]  # the note to the residents is required
    await console.post("/staff/bulk", {"csrf": token, "back": "https://elsewhere.example/", "ids": ticked,
                                       "action": "status", "state": "acknowledged", "text": "已受理,正在安排"})
    assert rows(services, "select status from ticket order by id") == [("acknowledged",), ("acknowledged",), ("new",)]
    assert rows(services, "select count(*) from outboxmessage where purpose = 'status'") == [(2,)]
    html = (await console.get("/staff/?view=new"))[1]
    assert re.search(r"待受理 <b>1</b>", html) and made[2].number in html and made[0].number not in html


async def test_search_finds_places_written_with_chinese_numerals_and_spaces(console, services):
    lane = await new_ticket(services, user="r1", place="峨山路91弄5号楼", text="路灯坏了", phone=None)
    other = await new_ticket(services, user="r2", place="峨山路100弄", text="垃圾没清运", phone=None)
    await console.login()
    for query in ("九十一弄", "峨山路 九十一弄", "91弄", "路 灯"):
        found = (await console.get("/staff/", params={"q": query}))[1]
        assert lane.number in found and other.number not in found, query
