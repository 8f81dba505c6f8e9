"""Emergencies first: a resident in danger gets what to do and whom to call, before anything
else the bot does, and the moderation chat is alerted. Messages written for these tests."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from handlers.router import handle
from handlers.services import TicketRules
from handlers.throttle import Throttle
from handlers.types import Inbound, plain_text
from tests.bot_harness import MODERATION, RESIDENT, all_sent, next_message, rows, running_bot

# kind -> (a Chinese message, an English one, what the Chinese reply must say, what the English one must say)
CASES = {
    "medical": ("我外婆在浴室滑倒了,头磕破了在流血,起不来", "My father collapsed in the kitchen and is not answering me",
                ["120", "不要随意搬动"], ["120", "Do not move"]),
    "gas": ("一进门就闻到好浓的煤气味,怎么办", "There is a strong smell of gas in our stairwell right now",
            ["119", "不要点火"], ["119", "no flames"]),
    "fire": ("楼下车棚里冒出好多黑烟,好像烧起来了", "Smoke is pouring out of the flat next door and the alarm is ringing",
             ["119", "不要乘电梯"], ["119", "never the lift"]),
    "fraud": ("有个自称检察院的人在电话里让我马上把存款转到安全账户,他还没挂",
              "A man on the phone says I must transfer my savings to a safe account now, he is still on the line",
              ["96110", "不要转账"], ["96110", "Do not transfer"]),
    "police": ("隔壁夫妻在打架,男的拿着刀,女的一直在喊救命",
               "My 6 year old son was playing downstairs and now he is missing, we can't find him",
               ["110"], ["110"]),
    "flood": ("楼上水管爆了,水从天花板往下灌,插座那边在冒火花", "Water is flooding into my ground floor flat and rising fast",
              ["电闸", "119"], ["power off", "119"]),
    "lift": ("我和孩子被关在电梯里了,电梯停在两层中间不动了", "I'm stuck in the lift of building 12 with my mother",
             ["警铃", "119"], ["alarm", "119"]),
}
NEAR_MISSES = [
    "我爸前年中过风,街道有没有人上门照护",  # home care
    "老人怎么识别骗子电话",  # anti-fraud entry
    "车库里飞线充电没人管",  # a complaint
    "小区什么时候搞消防演练",
    "家里装燃气报警器有没有补贴",
    "我儿子大学毕业两年了还找不到工作",  # a job seeker, not a missing person
    "孙女找不到合适的幼儿园,街道有宝宝屋吗",
    "孩子误吞了纽扣电池怎么预防",  # prevention
]
# what people tried that the signs missed (written for these tests, not taken from any set)
MORE = [
    ("medical", "小孙子把他外公的降压药吞了好几粒"),
    ("medical", "我家狗崽子没事,是我两岁的女儿喝了点消毒水"),
    ("medical", "楼下阿婆三四天没看到人了,敲门也没人开"),
    ("police", "我爸有老年痴呆,早上出去买菜走丢了"),
    ("police", "楼上两口子打起来了,砸东西的声音很响"),
]


@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_each_kind_of_emergency_gets_its_advice_and_staff_are_alerted(services, kind, lang):
    zh, en, says_zh, says_en = CASES[kind]
    services = replace(services, tickets=TicketRules(moderation_chat=str(MODERATION)))
    reply = await handle(Inbound("telegram", "7", "7", text=zh if lang == "zh" else en, message_id="1"), services)
    text = plain_text(reply.messages[0].text)
    assert reply.kind == "emergency", text
    assert "<b>1" in reply.messages[0].text and "&lt;" not in reply.messages[0].text  # the number in bold, not "<b>" shown
    for words in says_zh if lang == "zh" else says_en:
        assert words in text, (words, text)
    assert ("12345不是紧急电话" if lang == "zh" else "12345 is not an emergency line") in text
    from tests.conftest import query_rows

    [(chat, purpose, alert)] = query_rows(services.store, "SELECT chat_id, purpose, text FROM outboxmessage")
    assert (chat, purpose) == (str(MODERATION), "alert") and "不是工单" in alert


async def test_an_emergency_comes_before_an_open_report_and_the_flood_limit(services):
    resident = Inbound("console", "8", "8", text="楼道里的路灯坏了一个多星期了")
    assert (await handle(resident, services)).kind == "complaint"  # the report is open: "where is it?"
    services = replace(services, throttle=Throttle(limit=0))  # and the resident is over the limit
    reply = await handle(replace(resident, text="我妈刚才突然晕倒了,叫不醒"), services)
    assert reply.kind == "emergency" and "120" in reply.messages[0].text
    # the report is still open where it was
    [(step, filled)] = rows(services.store.engine.url.database, "SELECT step, filled FROM conversation")
    assert (step, json.loads(filled)["text"]) == ("where", "楼道里的路灯坏了一个多星期了")


@pytest.mark.parametrize(("kind", "text"), MORE)
async def test_poisoning_a_missing_person_a_fight_and_a_silent_neighbour(services, kind, text):
    reply = await handle(Inbound("console", "9", "9", text=text), services)
    assert reply.kind == "emergency" and ("120" if kind == "medical" else "110") in reply.messages[0].text


async def test_the_words_after_a_command_are_read_for_an_emergency_first(services):
    reply = await handle(Inbound("console", "9", "9", text="/opinion 楼道里冒烟了,快来人"), services)
    assert reply.kind == "emergency" and "119" in reply.messages[0].text
    assert rows(services.store.engine.url.database, "SELECT count(*) FROM opinion") == [(0,)]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_not_emergencies(core, text):
    assert core.model.understand(text).kind != "emergency"


async def test_emergencies_through_telegram_reach_the_resident_and_the_moderation_chat(server, tmp_path):
    """The real PTB application against the fake Bot API: every kind, in both languages."""
    from tests.bot_harness import moderation_group

    moderation_group(server)
    async with running_bot(server, tmp_path / "e.db") as bot:
        for kind, (zh, en, says_zh, says_en) in CASES.items():
            for text, says, code in ((zh, says_zh, "zh-hans"), (en, says_en, "en")):
                server.push_text(RESIDENT, text, language_code=code)
                reply = await next_message(server)
                assert reply.plain_text.startswith("🚨") and all(w in reply.plain_text for w in says), (kind, reply.plain_text)
        alerts = await server.wait_for_messages(MODERATION, 2 * len(CASES))
        assert all("紧急求助提示" in a.plain_text for a in alerts)
        await all_sent(bot.database)
        assert rows(bot.database, "SELECT count(*) FROM ticket") == [(0,)]  # an alert, not a ticket
