"""An emergency alert the office sees whatever the channels (issue 19): recorded in the database
(masked), logged, carded in the moderation chat when there is one, and shown on top of every
console page until a member of staff acknowledges it (who and when are kept)."""
from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from handlers.router import handle
from handlers.services import TicketRules
from handlers.types import Inbound
from tests.test_staff_console import PASSWORD, console, console_env, page, rows  # noqa: F401 (fixtures)

SAID = "厨房燃气报警器一直在响,煤气味很重,我电话 139 1234 5678"
PAGES = ("/staff/", "/staff/opinions", "/staff/dashboard", "/staff/events", "/staff/exports")


async def _emergency(services, text: str = SAID, user: str = "r7", channel: str = "wechat"):
    return await handle(Inbound(channel, user, user, text=text), services)


async def test_without_a_moderation_chat_an_emergency_is_still_recorded_and_logged(services, caplog):
    assert services.tickets.moderation_chat is None  # the only set-up a Shanghai office can run
    with caplog.at_level(logging.WARNING, logger="handlers.emergency"):
        reply = await _emergency(services)
    assert reply.kind == "emergency" and "已同时通知街道工作人员" in reply.messages[0].text
    [(channel, kinds, text, by, at)] = rows(services, "select channel, kinds, text, acknowledged_by, acknowledged_at from alert")
    assert (channel, kinds, by, at) == ("wechat", "gas", None, None)
    assert "燃气报警器" in text and "139****5678" in text and "1234 5678" not in text
    assert rows(services, "select count(*) from outboxmessage") == [(0,)]  # no chat: no card
    assert any("emergency alert" in r.getMessage() and "gas" in r.getMessage() for r in caplog.records)


async def test_with_a_moderation_chat_the_card_goes_too_masked(services):
    services = replace(services, tickets=TicketRules(moderation_chat="-1001"))
    await _emergency(services, user="r8", channel="telegram")
    [(chat, purpose, card)] = rows(services, "select chat_id, purpose, text from outboxmessage")
    assert (chat, purpose) == ("-1001", "alert") and "139****5678" in card and "1234 5678" not in card
    assert "119" in card and "12345" not in card
    assert rows(services, "select channel, kinds from alert") == [("telegram", "gas")]


async def test_every_console_page_shows_the_alert_until_it_is_acknowledged(console, services):  # noqa: F811
    await _emergency(services)
    await _emergency(services, text="My husband is hitting me again, I'm locked in the bathroom", user="r9")
    await console.login()
    for path in PAGES:
        status, html, _ = await console.get(path)
        assert status == 200 and html.count('<li class="alert">') == 2, path
        assert html.index('class="alerts"') < html.index("<main>" if "<main>" in html else "<h1>")  # on top
        assert "139****5678" in html and "1234 5678" not in html
    [(first,)] = rows(services, "select id from alert where kinds = 'gas'")
    # a form without the session's CSRF token is refused
    status, _, _ = await console.post(f"/staff/alerts/{first}/acknowledge", {"back": "/staff/opinions"})
    assert status == 403 and rows(services, "select count(*) from alert where acknowledged_at is null") == [(2,)]
    token = await console.csrf("/staff/opinions")
    status, _, response = await console.post(f"/staff/alerts/{first}/acknowledge",
                                             {"csrf": token, "back": "/staff/opinions"})
    assert status == 303 and response.headers["Location"] == "/staff/opinions"
    html = (await console.get("/staff/opinions"))[1]
    assert html.count('<li class="alert">') == 1 and "hitting me" in html
    [(by, at)] = rows(services, "select acknowledged_by, acknowledged_at from alert where id = ?", first)
    assert by == "web:wang" and at is not None
    # a second acknowledgement changes nothing; somewhere else than the console is not a way back
    _, _, response = await console.post(f"/staff/alerts/{first}/acknowledge", {"csrf": token, "back": "https://example.org/"})
    assert response.headers["Location"] == "/staff/"
    assert rows(services, "select acknowledged_by from alert where id = ?", first) == [("web:wang",)]
    dashboard = (await console.get("/staff/dashboard"))[1]
    assert "web:wang" in dashboard and "未确认" in dashboard and "not yet" not in dashboard  # who acknowledged; still waiting


async def test_signed_out_nobody_sees_the_alerts(console, services):  # noqa: F811
    await _emergency(services)
    status, html, _ = await console.get("/staff/login")
    assert status == 200 and 'class="alerts"' not in html and "煤气味" not in html


async def test_the_alert_banner_in_chromium(console, page, services):  # noqa: F811
    """Debian's Chromium: the banner on top, acknowledged with its button, gone on every page."""
    await _emergency(services, text="烟感报警了,客厅里全是烟,电话13912345678")
    await page.goto(console.url("/staff/login"))
    await page.fill("input[name=username]", "li")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/staff/")
    banner = page.locator("section.alerts")
    assert await banner.is_visible() and "139****5678" in await banner.inner_text()
    box, main = await banner.bounding_box(), await page.locator("main").bounding_box()
    assert box["y"] < main["y"]  # above the page's own content
    await page.goto(console.url("/staff/opinions"))
    assert "客厅里全是烟" in await page.locator("section.alerts").inner_text()
    await page.click("section.alerts button")
    await page.wait_for_url("**/staff/opinions")
    assert await page.locator("section.alerts").count() == 0
    await page.goto(console.url("/staff/dashboard"))
    assert await page.locator("section.alerts").count() == 0 and "li" in await page.locator("table", has_text="确认").inner_text()
    [(by,)] = rows(services, "select acknowledged_by from alert")
    assert by == "web:li"


@pytest.mark.parametrize("text", ["前几天被困电梯里,电梯归谁维保?", "电话不留了"])
async def test_no_alert_for_what_is_not_an_emergency(services, text):
    await _emergency(services, text=text)
    assert rows(services, "select count(*) from alert") == [(0,)]
