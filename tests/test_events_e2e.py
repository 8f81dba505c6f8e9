"""Events end to end (issue 15): the real bot (router, outbox worker, SQLite file) against the
fake Bot API. Staff publish from the moderation chat; residents subscribe, ask, stop; the clock
is moved (services.clock) to the day or to the quiet hours, never read from the wall."""
from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta

import pytest
from telegram.ext import AIORateLimiter

from db import outbox
from db.clock import SHANGHAI, utcnow
from db.events import WITHDRAWN
from tests.bot_harness import (
    MODERATION,
    STAFF,
    all_sent,
    fast_rate_limiter,
    moderation_group,
    next_message,
    press,
    rows,
    running_bot,
)
from tests.fake_bot_api import FakeBotApi

pytestmark = pytest.mark.asyncio


class Clock:
    """The bot's clock (db.clock.Clock), real time moved forward to a chosen Shanghai wall-clock
    time (so the rows the rest of the bot stamps with the real time are never in its future)."""

    def __init__(self, services, at: time) -> None:
        self.target = services.clock
        self.go_to(at)

    @property
    def offset(self) -> timedelta:
        return self.target.offset

    @offset.setter
    def offset(self, value: timedelta) -> None:
        self.target.offset = value

    def go_to(self, at: time) -> None:
        now = utcnow().astimezone(SHANGHAI)
        target = datetime.combine(now.date(), at, tzinfo=SHANGHAI)
        while target < now + self.offset:
            target += timedelta(days=1)
        self.offset = target - now

    def __call__(self) -> datetime:
        return utcnow() + self.offset


def event_day(clock: Clock) -> str:
    return f"{(clock() + timedelta(days=10)).astimezone(SHANGHAI):%Y-%m-%d}"


async def staff_says(server: FakeBotApi, text: str):
    server.push_group_text(MODERATION, STAFF, text)
    return await next_message(server, MODERATION)


async def publish_by_dialog(server: FakeBotApi, clock: Clock, title: str = "春季招聘会") -> str:
    """The /event dialog, from topic to the confirm button; returns the bot's last answer."""
    ask = await staff_says(server, "/event")
    assert "evtopic:jobs_job_fairs" in ask.callback_data(), ask.plain_text
    server.push_callback(STAFF, "evtopic:jobs_job_fairs", ask.message_id, chat_id=MODERATION)
    assert "标题" in (await next_message(server, MODERATION)).plain_text
    assert "开始时间" in (await staff_says(server, title)).plain_text
    wrong = await staff_says(server, "next Tuesday")
    assert "YYYY-MM-DD HH:MM" in wrong.plain_text, wrong.plain_text  # asked again, with the reason
    assert "地点" in (await staff_says(server, f"{event_day(clock)} 09:00-11:30")).plain_text
    assert "简介" in (await staff_says(server, "塘桥社区文化中心(峨山路613号)")).plain_text
    confirm = await staff_says(server, "现场带简历,约60家企业")
    assert title in confirm.plain_text and "09:00–11:30" in confirm.plain_text
    [publish] = [d for d in confirm.callback_data() if d.startswith("evpub:")]
    server.push_callback(STAFF, publish, confirm.message_id, chat_id=MODERATION)
    return (await next_message(server, MODERATION)).plain_text


def notices(server: FakeBotApi) -> list:
    return [m for m in server.sent if "塘桥街道办事处通知" in m.plain_text]


async def subscribe(server: FakeBotApi, user: int, area: str = "jobs") -> None:
    server.push_text(user, "/subscribe")
    menu = await next_message(server, user)
    assert "订阅" in (await press(server, user, menu, f"sub:{area}")).plain_text


async def test_publish_ask_subscribe_stop(tmp_path):
    async with FakeBotApi() as server:
        moderation_group(server)
        async with running_bot(server, tmp_path / "bot.db", rate_limiter=fast_rate_limiter()) as bot:
            clock = Clock(bot.services, time(10, 0))
            await subscribe(server, 1001)
            await subscribe(server, 1002)
            server.push_text(1002, "/unsubscribe")
            assert "已退订" in (await press(server, 1002, await next_message(server, 1002), "unsub:jobs")).plain_text
            await subscribe(server, 1004)
            await subscribe(server, 1003)
            server.block(1003)

            published = await publish_by_dialog(server, clock)
            assert "已发布" in published and "3 位订阅者" in published, published

            [notice] = await server.wait_for_messages(1001, 1)
            assert "塘桥街道办事处通知" in notice.plain_text and "春季招聘会" in notice.plain_text
            assert "现场带简历" in notice.plain_text and "unsub:jobs" in notice.callback_data()
            await all_sent(bot.database)
            status = await staff_says(server, "/event status 1")
            assert "已发送 2/3,1 人已屏蔽" in status.plain_text, status.plain_text

            # a question about the topic leads with the event, then the report's answer
            server.push_text(1005, "下一场招聘会什么时候")
            answer = (await next_message(server, 1005)).plain_text
            assert answer.index("春季招聘会") < answer.index("6场招聘会"), answer
            assert "塘桥社区文化中心(峨山路613号)" in answer and "09:00–11:30" in answer
            server.push_text(1005, "这周有什么活动")
            assert "春季招聘会" in (await next_message(server, 1005)).plain_text

            # a second event: the blocked resident is not even queued; the stop button works
            second = await publish_by_dialog(server, clock, title="秋季招聘会")
            assert "2 位订阅者" in second, second
            [again] = await server.wait_for_messages(1001, 1)
            assert "秋季招聘会" in again.plain_text
            assert "已退订" in (await press(server, 1001, again, "unsub:jobs")).plain_text
            assert "已发布" not in (await staff_says(server, "/event publish 1")).plain_text  # not twice
            await all_sent(bot.database)  # every notice is sent or refused: nothing more will go
        # once each: 1001 the two events, 1002 (stopped) none, 1004 both, 1003 (blocked) refused once
        notices = [(m.chat_id, "春季招聘会" if "春季招聘会" in m.plain_text else "秋季招聘会") for m in server.sent
                   if "塘桥街道办事处通知" in m.plain_text and m.chat_id != 1005]
        assert sorted(notices) == [(1001, "春季招聘会"), (1001, "秋季招聘会"), (1004, "春季招聘会"), (1004, "秋季招聘会")]
        assert rows(bot.database, "SELECT outcome FROM notice WHERE resident_id = "
                                  "(SELECT id FROM resident WHERE user_id = '1003')") == [("blocked",)]


async def test_quiet_hours_hold_notices_until_morning_and_withdrawn_ones_never_go(tmp_path):
    async with FakeBotApi() as server:
        moderation_group(server)
        async with running_bot(server, tmp_path / "bot.db", rate_limiter=fast_rate_limiter()) as bot:
            clock = Clock(bot.services, time(10, 0))
            await subscribe(server, 1001)
            clock.go_to(time(22, 30))
            published = await publish_by_dialog(server, clock)
            assert "08:00 起发送" in published, published
            await publish_by_dialog(server, clock, title="已取消的市集")
            assert "已撤回" in (await staff_says(server, "/event withdraw 2")).plain_text
            [(due,)] = rows(bot.database, "SELECT next_attempt_at FROM outboxmessage WHERE purpose = 'notice' "
                                          "AND state = 'pending'")
            assert datetime.fromisoformat(str(due)).astimezone(SHANGHAI).time() == time(8, 0)
            async with bot.services.store.transaction() as session:  # a staff reply meanwhile is not held up by it
                outbox.enqueue(session, "telegram", 1001, "reply", "工作人员答复:已安排维修。")
            assert "已安排维修" in (await next_message(server, 1001)).plain_text
            # the worker has been through the outbox (it sent the newer reply): the notice stayed
            assert [m.plain_text for m in server.messages_to(1001)[2:]] == ["工作人员答复:已安排维修。"], \
                "a notice went out in the quiet hours"

            clock.go_to(time(8, 0, 1))
            [notice] = await server.wait_for_messages(1001, 1, timeout=5)
            assert "春季招聘会" in notice.plain_text
            await all_sent(bot.database)
            assert rows(bot.database, "SELECT state, last_error FROM outboxmessage WHERE purpose = 'notice' "
                                      "ORDER BY id") == [("sent", None), ("cancelled", WITHDRAWN)]


async def test_a_restart_mid_broadcast_resumes_without_duplicates(tmp_path):
    subscribers = list(range(2001, 2151))
    async with FakeBotApi() as server:
        moderation_group(server)
        slow = AIORateLimiter(overall_max_rate=60, overall_time_period=1, group_max_rate=0, max_retries=0)
        async with running_bot(server, tmp_path / "bot.db", rate_limiter=slow) as bot:
            clock = Clock(bot.services, time(10, 0))
            for user in subscribers:
                server.push_text(user, "/subscribe")
            for user in subscribers:
                server.push_callback(user, "sub:jobs", (await next_message(server, user)).message_id)
            for user in subscribers:
                await next_message(server, user)
            await publish_by_dialog(server, clock)
            while len(notices(server)) < 40:
                await asyncio.sleep(0.05)
        assert len(notices(server)) < len(subscribers), "the broadcast ended before the restart"
        async with running_bot(server, tmp_path / "bot.db", rate_limiter=fast_rate_limiter()) as bot:
            bot.services.clock.offset = clock.offset
            await all_sent(bot.database, timeout=20)
        assert sorted(m.chat_id for m in notices(server)) == subscribers  # each once
