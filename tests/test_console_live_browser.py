"""The console's live updates in Debian's Chromium driven by Playwright (skipped without them): a
change made by another session appears on an open page without a reload, with who made it; new
tickets come into the queue, with a browser notification (opt-in) and a count in the title."""
from __future__ import annotations

import pytest

from tests.test_console_browser import chromium as chromium  # noqa: F401 (the fixture, by its name)
from tests.test_console_browser import signed_in
from tests.test_dialogs import Resident, report
from tests.test_staff_console import Browser, form_fields, new_ticket, rows
from tests.test_staff_console import console as console  # noqa: F401 (the fixtures, by their names)
from tests.test_staff_console import console_env as console_env  # noqa: F401

pytestmark = pytest.mark.both_databases

# A Notification the test can read (Chromium's own shows nothing headless), starting as "not asked yet".
NOTIFICATIONS = """
window.shown = [];
window.Notification = class { constructor(title) { window.shown.push(title); } };
window.Notification.permission = "default";
window.Notification.requestPermission = () => { window.Notification.permission = "granted"; return Promise.resolve("granted"); };
let hidden = false;
Object.defineProperty(document, "hidden", { get: () => hidden });
window.hideTab = (value) => { hidden = value; document.dispatchEvent(new Event("visibilitychange")); };
"""


async def test_a_colleagues_change_appears_on_the_open_ticket_without_a_reload(console, services, chromium):
    ticket = await new_ticket(services)
    page = await signed_in(chromium, console)
    await page.goto(console.url(f"/staff/tickets/{ticket.number}"))
    await page.evaluate("() => { window.sameDocument = true; }")  # gone if the page were loaded again
    colleague = Browser(console.server)
    await colleague.login("li")
    html = (await colleague.get(f"/staff/tickets/{ticket.number}"))[1]
    status, _, _ = await colleague.post(f"/staff/tickets/{ticket.number}/reply",
                                        {**form_fields(html, "reply"), "text": "已派人去看", "state": "in_progress"})
    assert status == 303
    await page.wait_for_function("() => document.querySelector('#live-head').textContent.includes('处理中')")
    notice = page.locator("#live-notice")
    await notice.wait_for(state="visible")
    assert "同事 li(网页) 刚刚更新了此工单" in await notice.inner_text()
    assert "已派人去看" in await page.locator("#live-history").inner_text()
    assert await page.evaluate("() => window.sameDocument") is True
    # nothing typed: the forms were refreshed too, so acting now is not refused as stale
    await page.fill("#note-text", "已电话联系")
    await page.click("form[action$='/note'] button")
    await page.wait_for_selector("p.done")
    assert rows(services, "select count(*) from ticketevent where kind = 'note'") == [(1,)]
    await colleague.http.close()


async def test_a_half_typed_reply_is_kept_and_the_change_is_announced(console, services, chromium):
    ticket = await new_ticket(services)
    page = await signed_in(chromium, console)
    await page.goto(console.url(f"/staff/tickets/{ticket.number}"))
    await page.fill("#reply-text", "正在写的答复")
    colleague = Browser(console.server)
    await colleague.login("li")
    html = (await colleague.get(f"/staff/tickets/{ticket.number}"))[1]
    await colleague.post(f"/staff/tickets/{ticket.number}/note", {**form_fields(html, "note"), "text": "我来跟进"})
    await page.wait_for_function("() => document.querySelector('#live-history').textContent.includes('我来跟进')")
    assert await page.input_value("#reply-text") == "正在写的答复"
    notice = page.locator("#live-notice")
    assert "刚刚更新了此工单" in await notice.inner_text() and await notice.locator("a").count() == 1  # a reload link
    await colleague.http.close()


async def test_a_new_report_comes_into_the_queue_with_a_notification_and_a_count_in_the_title(console, services,
                                                                                              chromium):
    page = await signed_in(chromium, console)
    await page.add_init_script(NOTIFICATIONS)
    await page.goto(console.url("/staff/"))
    button = page.locator("#live-notify")
    await button.click()  # the member opts in
    await button.wait_for(state="hidden")
    title = await page.title()
    await page.evaluate("() => window.hideTab(true)")
    await report(Resident(services, "r7"))
    [(number,)] = rows(services, "select number from ticket")
    await page.locator("table.queue").get_by_text(number).wait_for()
    shown = await page.evaluate("() => window.shown")
    assert len(shown) == 1 and shown[0].startswith(f"新工单 {number} · ")
    assert await page.title() == f"(1) {title}"
    assert "待受理 1" in " ".join((await page.locator("#live-views").inner_text()).split())
    await page.evaluate("() => window.hideTab(false)")
    assert await page.title() == title


async def test_a_ticket_assigned_to_the_member_is_announced_on_any_page_with_their_count(console, services, chromium):
    ticket = await new_ticket(services)
    page = await signed_in(chromium, console)
    await page.goto(console.url("/staff/opinions"))
    assert await page.locator("#live-mine-link").is_hidden()
    colleague = Browser(console.server)
    await colleague.login("li")
    html = (await colleague.get(f"/staff/tickets/{ticket.number}"))[1]
    await colleague.post(f"/staff/tickets/{ticket.number}/assign", {**form_fields(html, "assign"), "assignee": "wang"})
    await page.locator("#live-mine-link").wait_for(state="visible")
    assert await page.locator("#live-mine").inner_text() == "1"
    assert f"交办给您的工单 {ticket.number}" in await page.locator("#live-notice").inner_text()
    await colleague.http.close()
