"""The console's review page (bot/staff_review.py) over real HTTP on loopback: similar messages
grouped, the most frequent first; one click labels a message, one a group; only administrators
approve, every POST with the session's CSRF token."""
from __future__ import annotations

import re

import pytest

from tests.conftest import query_rows
from tests.test_review import turn
from tests.test_staff_console import console, console_env, csrf_of  # noqa: F401 (fixtures)

pytestmark = pytest.mark.both_databases

SNOW = ["明天会不会下雪", "明天会下雪吗", "明天下雪不下雪"]  # similar: one group of three
STOCKS = "今天股票涨了吗"


async def fallbacks(services):
    for n, text in enumerate([STOCKS, *SNOW]):
        reply = await turn(services, text, user=f"r{n}")
        assert reply.kind == "fallback", text
    return {text: id_ for id_, text in query_rows(services.store, "select id, text from reviewitem")}


def groups_of(html: str) -> list[str]:
    return re.findall(r"<h2>“(.+?)” × (\d+)</h2>", html)


async def test_grouped_most_frequent_first_labelled_one_by_one_or_by_group_approved_by_an_admin(console, services):  # noqa: F811
    ids = await fallbacks(services)
    await console.login("li")
    status, html, _ = await console.get("/staff/review")
    assert status == 200 and "未理解的问题" in html and "Messages to review" in html
    assert [count for _, count in groups_of(html)] == ["3", "1"]  # the three about snow first
    assert groups_of(html)[0][0] in SNOW and 'id="approve"' not in html  # li is not an administrator
    token = csrf_of(html)

    status, _, response = await console.post("/staff/review/label", {"csrf": token, "ids": str(ids[STOCKS]),
                                                                    "label": "not_in_report"})
    assert status == 303 and response.headers["Location"] == f"/staff/review#i{ids[STOCKS]}"
    group = ",".join(str(ids[text]) for text in SNOW)
    assert (await console.post("/staff/review/label", {"csrf": token, "ids": group, "label": "",
                                                       "other": "emergency_weather"}))[0] == 303
    assert query_rows(services.store, "select text, status, label, labelled_by from reviewitem order by id") == [
        (STOCKS, "labelled", "not_in_report", "web:li"), *((text, "labelled", "emergency_weather", "web:li") for text in SNOW)]
    html = (await console.get("/staff/review"))[1]
    assert '<b id="labelled">4</b>' in html and "报告中没有 not in the report</b>" in html

    assert (await console.post("/staff/review/label", {"csrf": token, "ids": group, "label": "no_such_entry"}))[0] == 400
    assert (await console.post("/staff/review/label", {"ids": group, "label": "opinion"}))[0] == 403  # no CSRF token
    assert (await console.post("/staff/review/approve", {"csrf": token}))[0] == 403  # not an administrator
    assert query_rows(services.store, "select count(*) from modelversion") == [(0,)]

    console.http.cookie_jar.clear()
    await console.login("wang")
    html = (await console.get("/staff/review"))[1]
    status, _, response = await console.post("/staff/review/approve", {"csrf": csrf_of(html)})
    assert status == 303
    (version, state, by), = query_rows(services.store, "select id, state, created_by from modelversion")
    assert (state, by) == ("training", "web:wang")
    assert query_rows(services.store, "select distinct status, batch, approved_by from reviewitem") == [
        ("approved", version, "web:wang")]
    html = (await console.get("/staff/review"))[1]
    assert "没有待复核的问题" in html and '<td class="state">training</td>' in html
    assert (await console.post("/staff/review/approve", {"csrf": csrf_of(html)}))[0] == 400  # nothing left to approve
