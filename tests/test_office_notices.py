"""Staff reached without the moderation chat (issue 23): the office's WeCom group robot hears of new
tickets, emergencies, chases and assignments; the member a ticket is assigned to gets a private
Telegram message when their account is linked. All through the outbox, against strict fakes on
loopback (tests/fake_wecom_robot.py, tests/fake_bot_api.py)."""
from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp.test_utils import TestServer
from telegram import Bot

from bot.channels.telegram_outbox import TelegramSender
from bot.channels.wecom_robot import WeComRobot, fit
from bot.delivery import OutboxWorker
from bot.settings import SettingsError, load_settings
from bot.web import build_web_app
from db import accounts
from handlers import chase
from handlers.services import TicketRules
from tests.fake_wecom_robot import FakeWeComRobot
from tests.test_dialogs import Resident, report
from tests.test_staff_console import MODERATION_CHAT, PASSWORD, Browser, form_fields, new_ticket, rows

pytestmark = pytest.mark.both_databases
CONSOLE_URL = "https://bot.example.cn/staff"
LI_TELEGRAM = 5550001


@pytest.fixture
async def robot():
    async with FakeWeComRobot() as fake:
        yield fake


@pytest.fixture
def office(services):
    """A bot with a WeCom group robot, Telegram for linked accounts, and no moderation chat."""
    return replace(services, tickets=TicketRules(office_robot=True, staff_direct="telegram", console_url=CONSOLE_URL))


@pytest.fixture
async def senders(robot, server):
    server.add_chat(LI_TELEGRAM, "private")
    async with Bot(server.token, base_url=server.base_url) as bot:
        wecom = WeComRobot(robot.url)
        yield {"wecom": wecom, "telegram": bot}
        await wecom.close()


async def deliver(office, senders) -> int:
    worker = OutboxWorker(office.store, {"wecom": senders["wecom"], "telegram": TelegramSender(senders["telegram"], office)},
                          office)
    return await worker.run_once()


async def test_the_office_group_hears_of_a_report_made_through_the_router_without_its_text(office, senders, robot):
    await report(Resident(office, "r1"), text="楼道里的灯坏了一个多星期了,晚上很黑,电话13812345678", place="峨山路91弄5号楼")
    [(number, category)] = rows(office, "select number, category from ticket")
    assert await deliver(office, senders) == 1
    [message] = robot.received
    assert message.startswith(f"**🆕 新工单 {number}**")
    assert office.categories.title(category, "zh") in message and "峨山路91弄" in message
    assert f"[在工作台查看]({CONSOLE_URL}/tickets/{number})" in message
    assert "灯坏了" not in message and "13812345678" not in message and "5678" not in message


async def test_an_emergency_reaches_the_office_group_with_its_kind_only(office, senders, robot):
    reply = await Resident(office, "r2").says("楼道里煤气味很重,邻居家没人应门")
    assert reply.kind == "emergency"
    await deliver(office, senders)
    [message] = robot.received
    assert "紧急求助" in message and "gas" in message and "煤气味" not in message


async def test_a_chase_reaches_the_office_group(office, senders, robot):
    ticket = await new_ticket(office, late=True)
    assert await chase.run(office) >= 1
    await deliver(office, senders)
    assert any(m.startswith(f"**⏰ 催办 {ticket.number}**") and "已超过" in m for m in robot.received)


async def test_the_robots_limit_is_waited_out_and_a_wrong_key_fails_for_good(office, senders, robot):
    await new_ticket(office)
    async with office.store.transaction() as session:
        from db import outbox

        outbox.to_office_robot(session, "card", "**一条消息**")
    robot.fail_next(45009)
    assert await deliver(office, senders) == 0
    assert rows(office, "select state, attempts from outboxmessage") == [("pending", 1)]
    rows(office, "update outboxmessage set next_attempt_at = created_at")  # the minute is over
    robot.fail_next(93000)
    assert await deliver(office, senders) == 0
    assert rows(office, "select state from outboxmessage") == [("failed",)] and robot.received == []
    assert fit("塘" * 2000) == "塘" * 1365  # 4095 bytes: never half a character


@pytest.fixture
async def console(office, tmp_path):
    """The console of `python -m bot serve` for `office`, two accounts, li linked to Telegram."""
    async with office.store.transaction() as session:
        await accounts.add(session, "wang", PASSWORD, admin=True)
        await accounts.add(session, "li", PASSWORD)
        await accounts.link_telegram(session, "li", str(LI_TELEGRAM))
    settings = load_settings({"EXPORT_DIR": str(tmp_path / "exports")})
    server = TestServer(build_web_app(settings, office), host="127.0.0.1", port=0)
    await server.start_server()
    browser = Browser(server)
    yield browser
    await browser.http.close()
    await server.close()


async def test_an_assignment_in_the_console_tells_the_assignee_on_telegram_and_the_group(office, console, senders, server,
                                                                                        robot):
    ticket = await new_ticket(office, text="路灯坏了,电话 13912345678")
    robot.received.clear()
    await console.login("wang")
    path = f"/staff/tickets/{ticket.number}"
    html = (await console.get(path))[1]
    status, _, _ = await console.post(f"{path}/assign", {**form_fields(html, "assign"), "assignee": "li"})
    assert status == 303
    await deliver(office, senders)
    [private] = server.messages_to(LI_TELEGRAM)
    assert f"{ticket.number} 已交办给您(由 wang 交办)" in private.plain_text
    assert "路灯坏了" in private.plain_text and "13912345678" not in private.plain_text  # CHAT_CARDS=masked: numbers masked
    assert f"{CONSOLE_URL}/tickets/{ticket.number}" in private.plain_text
    assert any(f"📌 交办 {ticket.number}" in m and "承办人: li" in m for m in robot.received)
    assert rows(office, "select purpose from outboxmessage where chat_id = ?", str(LI_TELEGRAM)) == [("assigned",)]


async def test_an_assignment_in_the_moderation_chat_tells_the_assignee_but_not_one_who_took_it(office, console, senders,
                                                                                               server):
    from db.models import Ticket
    from handlers import staff

    ticket = await new_ticket(office)
    minimal = replace(office, tickets=replace(office.tickets, moderation_chat=MODERATION_CHAT, chat_cards="minimal"))
    await staff.assign(ticket, "@li", "staff:777 @wang", minimal)
    await staff.assign(ticket, "li", f"staff:{LI_TELEGRAM} @li", minimal)  # took it themselves: nothing
    await staff.assign(ticket, "nobody", "web:wang", minimal)  # no such account: nothing
    async with office.store.transaction() as session:
        assert (await session.get(Ticket, ticket.id)).assignee == "nobody"
    await deliver(office, senders)
    [private] = server.messages_to(LI_TELEGRAM)
    assert "已交办给您(由 @wang 交办)" in private.plain_text and "居民写道" not in private.plain_text  # minimal: no resident text


def test_the_robots_address_must_be_a_web_address():
    assert load_settings({"WECOM_ROBOT_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}).wecom_robot_url
    with pytest.raises(SettingsError):
        load_settings({"WECOM_ROBOT_URL": "qyapi.weixin.qq.com/send"})
    assert "key=" not in repr(load_settings({"WECOM_ROBOT_URL": "https://q.example/send?key=secret"}))


async def test_a_running_bot_sends_the_office_group_what_it_is_told(services, robot, tmp_path):
    from bot.jobs import Background

    settings = load_settings({"WECOM_ROBOT_URL": robot.url, "EXPORT_DIR": str(tmp_path)})
    office = replace(services, tickets=TicketRules(office_robot=True))
    background = Background(office, settings, {})
    background.start()
    try:
        await new_ticket(office)  # a ticket made without a card: the robot's own line
        async with office.store.transaction() as session:
            from db import outbox

            outbox.to_office_robot(session, "card", "**测试**")
        from tests.bot_harness import eventually

        await eventually(lambda: robot.received, timeout=10, what="the robot's message")
    finally:
        await background.stop()
    assert robot.received == ["**测试**"]
