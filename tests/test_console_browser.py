"""The staff console v2 in Debian's Chromium driven by Playwright (skipped without them): triage
order and views, post/redirect/get, the status control, one form for reply and status, phone
search by the last four digits, a stale write refused, the 390 px phone layout, axe-core on every
page (skipped without the npm package: scripts/install-chromium.sh installs it), no doubled labels."""
from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from db import accounts
from db.models import utcnow
from tests.test_staff_console import CHROMIUM, PASSWORD, new_ticket, rows
from tests.test_staff_console import console as console  # noqa: F401 (the fixtures, by their names)
from tests.test_staff_console import console_env as console_env  # noqa: F401

pytestmark = pytest.mark.both_databases
AXE = Path(os.environ.get("AXE_DIR", Path.home() / ".cache/tangqiao-bot/axe")) / "node_modules/axe-core/axe.min.js"


@pytest.fixture
async def chromium():
    if not shutil.which("chromium"):
        pytest.skip("Chromium is not installed (bash scripts/install-chromium.sh)")
    playwright = pytest.importorskip("playwright.async_api")
    async with playwright.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        await browser.close()


async def signed_in(browser, console, name: str = "wang", password: str = PASSWORD, **context):
    """A new browser context (its own cookies), signed in."""
    page = await (await browser.new_context(**context)).new_page()
    page.set_default_timeout(15_000)
    await page.goto(console.url("/staff/login"))
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/staff/")
    return page


async def _numbers(page) -> list[str]:
    return [n.strip() for n in await page.locator("table.queue tbody tr td:nth-child(2)").all_inner_texts()]


async def test_the_queue_is_ordered_by_the_next_deadline_and_each_views_count_is_its_list(console, services, chromium):
    answered = await new_ticket(services, user="r1", text="已答复的", due_in=timedelta(days=4))
    rows(services, "update ticket set first_response_at = ?, response_due = ?, resolution_due = ? where id = ?",
         utcnow(), utcnow() - timedelta(days=1), utcnow() + timedelta(days=2), answered.id)  # next: resolution in 2 days
    unanswered = await new_ticket(services, user="r2", text="未答复的", due_in=timedelta(days=3))
    rows(services, "update ticket set response_due = ? where id = ?", utcnow() + timedelta(days=1), unanswered.id)
    late = await new_ticket(services, user="r3", text="超时的", late=True)
    far = await new_ticket(services, user="r4", text="还早的", due_in=timedelta(days=6))
    await new_ticket(services, user="r5", text="已受理的", due_in=timedelta(days=5))
    rows(services, "update ticket set status = 'acknowledged', first_response_at = ? where text = '已受理的'", utcnow())
    page = await signed_in(chromium, console)
    order = await _numbers(page)
    assert order[:3] == [late.number, unanswered.number, answered.number] and order[-1] == far.number
    assert "首次答复" in await page.locator("tr", has_text=unanswered.number).inner_text()  # its next deadline's kind
    assert "办结" in await page.locator("tr", has_text=answered.number).inner_text()
    for view in ("未办结", "待受理", "超时", "今日到期", "我的"):
        link = page.locator("nav.views a", has_text=view)
        count = int(await link.locator("b").inner_text())
        await link.click()
        await page.wait_for_load_state()
        listed = [n for n in await _numbers(page) if n.startswith("TQ-")]
        assert len(listed) == count, view
    assert page.url.endswith("view=mine") and count == 0


async def test_post_redirect_get_the_status_control_and_one_message_for_reply_and_status(console, services, chromium):
    ticket = await new_ticket(services)
    page = await signed_in(chromium, console)
    await page.goto(console.url("/staff/?view=new"))
    await page.click(f"text={ticket.number}")
    await page.wait_for_url("**/staff/tickets/**")
    assert await page.locator("form[action$='/reply'] select").input_value() == "new"  # starts at the current status
    await page.fill("#reply-text", "收到,明天上午处理")
    await page.click("form[action$='/reply'] button")
    await page.wait_for_selector("p.done")
    assert "done=reply" in page.url and "back=" in page.url
    sent = rows(services, "select count(*) from outboxmessage")
    await page.reload()  # after a post/redirect/get, a reload is a GET: nothing sent again
    await page.wait_for_selector("p.done")
    assert rows(services, "select count(*) from outboxmessage") == sent
    assert await page.locator("a", has_text="返回列表").get_attribute("href") == "/staff/?view=new"  # the filters kept

    options = await page.locator("form[action$='/reply'] select option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["new", "acknowledged", "in_progress", "resolved", "rejected"]
    await page.select_option("form[action$='/reply'] select", "in_progress")
    await page.fill("#reply-text", "已派电工,今天下午到")
    await page.click("form[action$='/reply'] button")
    await page.wait_for_selector("p.done")
    assert await page.locator("form[action$='/reply'] select").input_value() == "in_progress"
    to_resident = rows(services, "select purpose, text from outboxmessage where chat_id = 'r1' order by id")
    assert [p for p, _ in to_resident] == ["reply", "status"] and "已派电工" in to_resident[1][1]  # one message for both


async def test_a_phone_is_found_by_its_last_four_digits(console, services, chromium):
    mine = await new_ticket(services, user="r1", phone="13812345678", text="路灯坏了")
    other = await new_ticket(services, user="r2", phone="13912340000", text="垃圾没清")
    closed = await new_ticket(services, user="r3", phone="13700005678", text="早就办结的")
    rows(services, "update ticket set status = 'closed' where id = ?", closed.id)
    page = await signed_in(chromium, console)
    await page.fill("input[name=q]", "5678")
    await page.click("form.filters button")
    await page.wait_for_url("**q=5678**")
    assert await _numbers(page) == [mine.number]
    assert other.number not in await page.content()
    await page.fill("input[name=q]", closed.number)  # a number finds its ticket in any status
    await page.click("form.filters button")
    await page.wait_for_url("**q=TQ-**")
    assert await _numbers(page) == [closed.number]


async def test_a_change_from_a_page_opened_before_another_change_is_refused(console, services, chromium):
    ticket = await new_ticket(services)
    mine = await signed_in(chromium, console)
    theirs = await signed_in(chromium, console, "li")
    for page in (mine, theirs):
        await page.goto(console.url(f"/staff/tickets/{ticket.number}"))
    await mine.select_option("form[action$='/reply'] select", "in_progress")  # half-written: the live update keeps it
    await mine.fill("#reply-text", "已安排处理")
    await theirs.select_option("form[action$='/reply'] select", "rejected")
    await theirs.fill("#reply-text", "不属于街道职责")
    await theirs.click("form[action$='/reply'] button")
    await theirs.wait_for_selector("p.done")
    await mine.locator("#live-notice").wait_for(state="visible")  # "同事 li(网页) 刚刚更新了此工单"
    await mine.click("form[action$='/reply'] button")  # the stale form
    problem = mine.locator("p.problem")
    assert "此工单在您打开后已被修改" in await problem.inner_text()
    assert await problem.evaluate("p => getComputedStyle(p).color") == "rgb(139, 0, 0)"  # in red
    assert rows(services, "select status from ticket") == [("rejected",)]
    assert rows(services, "select count(*) from outboxmessage where chat_id = 'r1'") == [(1,)]  # the resident got one


async def test_the_queue_fits_a_phone_390_px_wide(console, services, chromium):
    for n in range(12):
        await new_ticket(services, user=f"r{n}", text="楼道灯坏了很久" * 8, place="峨山路九十一弄五号楼" * 3)
    page = await signed_in(chromium, console, viewport={"width": 390, "height": 844})
    for path in ("/staff/", f"/staff/tickets/{(await _numbers(page))[0]}"):
        await page.goto(console.url(path))
        width = await page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1] == 390, (path, width)
        for control in ("button:has-text('退出')", "header a:has-text('活动')", "header a:has-text('管理')"):
            box = await page.locator(control).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, control


PAGES = ["/staff/", "/staff/?view=overdue", "/staff/tickets/{number}", "/staff/opinions", "/staff/dashboard",
         "/staff/exports", "/staff/events", "/staff/accounts", "/staff/committees", "/staff/canned", "/staff/canned?edit=received",
         "/staff/no-such-page", "/staff/tickets/TQ-0000-0000"]


async def test_every_console_page_passes_axe_core(console, services, chromium):
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed ({AXE}): bash scripts/install-chromium.sh")
    ticket = await new_ticket(services)
    await services.store.add_opinion((await services.store.resident("telegram", "r1")).id, "希望多开几次居民议事会",
                                     category="participation")
    page = await signed_in(chromium, console, bypass_csp=True)  # the checker is a script; the pages allow none
    found = {}
    for path in ["/staff/login", *PAGES]:
        if path == "/staff/login":
            login = await (await chromium.new_context(bypass_csp=True)).new_page()
            await login.goto(console.url(path))
            target = login
        else:
            await page.goto(console.url(path.format(number=ticket.number)))
            target = page
        await target.add_script_tag(path=str(AXE))
        result = await target.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        bad = [(v["id"], v["impact"], len(v["nodes"])) for v in result["violations"] if v["impact"] in ("critical", "serious")]
        if bad:
            found[path] = bad
    assert not found, found


async def test_labels_are_in_one_language_never_both(console, services, chromium):
    ticket = await new_ticket(services)
    page = await signed_in(chromium, console)
    english = ("Tickets", "Log out", "Status", "Category", "Search", "Filter", "History", "Assign", "Send", "Overdue",
               "Opinions", "Exports", "Events", "No such page")
    for path in [p for p in PAGES[:-2] if p != "/staff/dashboard"] + ["/staff/no-such-page"]:  # the dashboard: the export's page
        await page.goto(console.url(path.format(number=ticket.number)))
        text = await page.locator("body").inner_text()
        assert await page.locator("html").get_attribute("lang") == "zh-CN"
        assert not [word for word in english if word in text], (path, [w for w in english if w in text])
    assert "找不到此页面" in text
    for raw in ("in_progress", "acknowledged", "facilities", "draft", "<b>"):
        await page.goto(console.url(f"/staff/tickets/{ticket.number}"))
        assert raw not in await page.locator("table").nth(1).inner_text()
    async with services.store.transaction() as session:
        account = await accounts.by_name(session, "li")
        account.language = "en"
        session.add(account)
    english_page = await signed_in(chromium, console, "li")
    assert await english_page.locator("html").get_attribute("lang") == "en"
    header = await english_page.locator("header").inner_text()
    assert "Tickets" in header and "工单" not in header


async def test_the_admin_pages_fit_a_phone_and_an_account_is_made_in_the_browser(console, services, chromium):
    """At 390 px: no page scrolls sideways, every form's button is on screen; an account made in
    the browser shows its one-time password once, which then signs in."""
    page = await signed_in(chromium, console, viewport={"width": 390, "height": 844})
    for path in ("/staff/accounts", "/staff/committees", "/staff/canned", "/staff/events", "/staff/exports"):
        await page.goto(console.url(path))
        width = await page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1] == 390, (path, width)
    await page.goto(console.url("/staff/accounts"))
    await page.get_by_label("名字(不含空格)").fill("zhou")
    await page.get_by_label("科室", exact=True).last.fill("城管科")
    await page.get_by_role("button", name="创建").click()
    await page.wait_for_url("**/staff/accounts?done=created")
    once = await page.locator("code").first.inner_text()
    box = await page.locator("code").first.bounding_box()
    assert len(once) == 14 and box and box["x"] + box["width"] <= 390
    await page.reload()
    assert once not in await page.content()  # shown once
    other = await signed_in(chromium, console, "zhou", password=once)
    assert "zhou" in await other.locator("header").inner_text()
