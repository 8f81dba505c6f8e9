"""The staff console v2 (issue 23) over real HTTP on loopback: privacy by default, triage, post /
redirect / get, versions, search, Chinese first."""
from __future__ import annotations

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
