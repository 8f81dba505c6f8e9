"""Emergencies first: a resident in danger gets what to do and whom to call, before anything
else the bot does, and the moderation chat is alerted. Messages written for these tests."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

import pytest

from handlers.router import handle
from handlers.services import TicketRules
from handlers.texts_check import sample_values
from handlers.throttle import Throttle
from handlers.types import Inbound, plain_text
from tests.bot_harness import MODERATION, RESIDENT, all_sent, next_message, rows, running_bot

# kind -> (a Chinese message, an English one, what the Chinese reply must say, what the English one must say)
CASES = {
    "medical": ("我外婆在浴室滑倒了,头磕破了在流血,起不来", "My father collapsed in the kitchen and is not answering me",
                ["120", "不要随意搬动"], ["120", "do not move"]),
    "gas": ("一进门就闻到好浓的煤气味,怎么办", "There is a strong smell of gas in our stairwell right now",
            ["119", "不要点火", "室外"], ["119", "no flames", "from outside"]),
    "fire": ("楼下车棚里冒出好多黑烟,好像烧起来了", "Smoke is pouring out of the flat next door and the alarm is ringing",
             ["119", "不要乘电梯"], ["119", "never the lift"]),
    "fire_trapped": ("楼下着火了,楼梯里都是烟,我们在九楼下不去",
                     "There's a fire below us and the staircase is full of smoke, we can't get out",
                     ["待在屋里", "湿毛巾", "窗口", "119"], ["stay inside", "wet towels", "window", "119"]),
    "fraud": ("有个自称检察院的人在电话里让我马上把存款转到安全账户,他还没挂",
              "A man on the phone says I must transfer my savings to a safe account now, he is still on the line",
              ["96110", "停止转账", "挂断"], ["96110", "Stop transferring", "hang up"]),
    "violence": ("隔壁夫妻在打架,男的拿着刀,女的一直在喊救命", "My husband is drunk and hitting me, he's banging on the door",
                 ["110", "反锁的房间"], ["110", "a room that locks"]),
    "despair": ("我真的不想活了,每天都好累", "I don't want to live anymore, nothing matters",
                ["12356", "962525", "110"], ["12356", "962525", "110"]),
    "despair_other": ("我女儿发消息说不想活了,电话也不接", "My brother says he wants to end his life tonight",
                      ["110", "不要让他一个人", "12356"], ["110", "do not leave them alone", "12356"]),
    "missing": ("我爸有老年痴呆,早上出去买菜走丢了",
                "My 6 year old son was playing downstairs and now he is missing, we can't find him",
                ["110", "穿什么衣服"], ["110", "wearing"]),
    "flood": ("楼上水管爆了,水从天花板往下灌,插座那边在冒火花", "Water is flooding into my ground floor flat and rising fast",
              ["电闸", "119"], ["power off", "119"]),
    "lift": ("我和孩子被关在电梯里了,电梯停在两层中间不动了", "I'm stuck in the lift of building 12 with my mother",
             ["警铃", "119"], ["alarm", "119"]),
}
# what is happening now, written the ways the signs used to miss (kind, message): Chinese, Shanghainese, English
NOW = [
    # an overdose and self-harm (a resident tester's misses), in words of their own
    ("despair", "刚才把一整瓶安眠药都吃了"),
    ("despair", "我割腕了，流了好多血"),
    ("despair", "I took too many sleeping pills"),
    ("despair", "I feel like ending it all tonight"),
    ("despair", "nobody would care if I was gone"),
    # Shanghainese "not come back" (没转来 / 勿转来) and water risen to the ankles, in signs of their own
    ("missing", "我爸有点老年痴呆，下午出门散步到现在还没转来"),
    ("missing", "阿拉外婆糊涂了，早上出去到现在勿转来，手机也打勿通"),
    ("flood", "暴雨，水一直往屋里灌，已经没过脚背了"),
    ("gas", "厨房那个燃气报警器嘀嘀嘀叫个不停"),
    ("gas", "煤气报警器响了老半天了,阿拉勿晓得哪能办"),
    ("gas", "The gas detector in my kitchen keeps beeping"),
    ("fire", "烟雾报警器在响,卧室里都是烟"),
    ("fire", "My smoke alarm went off and there is smoke in the living room"),
    ("violence", "他又开始打我了,我把自己锁在房间里"),
    ("violence", "我男人经常打我,今朝夜里又吃醉了在敲门"),
    ("violence", "My partner has hit me before and he is hitting me again right now"),
    ("despair", "再没人帮我,我就从阳台跳下去"),
    ("despair", "If nobody helps me today I'm going to kill myself"),
    ("lift", "电梯卡在十楼和十一楼中间,我老婆在里面"),
    ("lift", "The elevator stopped between two floors and my kids are inside"),
    ("fraud", "对方说要先交保证金才能放款,我还在跟他聊"),
    ("fraud", "This loan site wants a processing fee first and the agent keeps messaging me to pay"),
    ("gas", "早上就有股怪味,现在味道越来越重了"),
    ("gas", "I noticed a gas smell an hour ago and now it's getting stronger"),
]
# the past asked about for another reason, hypotheticals, service questions, declining a call
NOT_NOW = [
    "医生说要按时吃药，我吃了好多药了还是咳嗽",
    "Last week there was a gas leak upstairs. Who inspects the gas pipes now?",
    "早上闻到煤气味，关了阀门开窗，现在没味道了，找谁来检查一下",
    "我同事上个月说过想自杀，现在好多了，社区有心理服务吗",
    "上个月暴雨水淹到膝盖，今年物业有什么准备吗",
    "前段时间我被困在电梯里,这部电梯归哪家公司维保",
    "上趟阿拉爷晕倒辣小区门口,小区里有AED伐",
    "Last month my neighbour fainted in the lobby, do we have a defibrillator in the building?",
    "如果燃气管漏气了会不会爆炸",
    "What if the lift gets stuck with my mum inside, who would come?",
    "燃气报警器有没有补贴",
    "电话就不留了",
    "没事了,不用打电话给我",
    "I'd rather not give you my phone number",
]
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
    ("missing", "我妈有老年痴呆,早上出去到现在没回来"),
    ("violence", "楼上两口子打起来了,砸东西的声音很响"),
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
    assert "12345" not in text
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


@pytest.mark.parametrize(("kind", "text"), NOW)
async def test_a_danger_happening_now_is_caught_with_its_advice(services, kind, text):
    reply = await handle(Inbound("console", "11", "11", text=text), services)
    assert reply.kind == "emergency", text
    advice = services.model.signs
    [expected] = [k for k in advice.kinds if k.name == kind]
    lang = "en" if text.isascii() else "zh"
    assert expected.advice[lang] in reply.messages[0].text, reply.messages[0].text


@pytest.mark.parametrize("text", NOT_NOW)
async def test_the_past_a_hypothetical_a_service_or_a_declined_call_is_not_an_emergency(services, text):
    reply = await handle(Inbound("console", "12", "12", text=text), services)
    assert reply.kind != "emergency", text
    assert services.model.understand(text).dangers == ()


@pytest.mark.parametrize("answer", ["不留了", "电话不留", "没事了,不用打电话给我", "no need to call me"])
async def test_declining_a_phone_number_at_the_reports_phone_step_is_not_an_emergency(services, answer):
    resident = Inbound("console", "13", "13", text="/report")
    await handle(resident, services)
    await handle(replace(resident, text="小区门口的路灯坏了一个多星期,晚上一片漆黑"), services)
    await handle(replace(resident, text="峨山路100弄3号门口"), services)
    asked = await handle(replace(resident, text="", callback="ik:skip"), services)  # no photos
    assert "手机号" in asked.messages[0].text or "phone" in asked.messages[0].text
    reply = await handle(replace(resident, text=answer), services)
    assert reply.kind == "complaint" and "🚨" not in reply.messages[0].text
    # the phone declined: on to the summary, the report kept
    assert rows(services.store.engine.url.database, "SELECT dialog, step FROM conversation") == [("complaint", "confirm")]
    # and a danger at that step is still one
    reply = await handle(replace(resident, text="等一下,厨房里燃气报警器一直在响"), services)
    assert reply.kind == "emergency" and "119" in reply.messages[0].text


@pytest.mark.parametrize(("text", "lang"), [("楼道里全是黑烟,我们在十二楼下不去了", "zh"),
                                            ("The corridor is full of smoke and we can't get out of the flat", "en")])
async def test_fire_with_the_way_out_blocked_is_told_to_stay_in_not_to_take_the_stairs(services, text, lang):
    reply = plain_text((await handle(Inbound("console", "14", "14", text=text), services)).messages[0].text)
    first = reply.splitlines()[1]  # the advice's first line, after the heading
    assert ("待在屋里" in first and "湿毛巾" in first) if lang == "zh" else ("stay inside" in first and "wet towels" in first)
    assert "往下走" not in reply and "go down the stairs" not in reply  # the advice for a fire one can leave is dropped


@pytest.mark.parametrize(("text", "self_"), [("我不想活了,太累了", True), ("活不下去了,我想死", True),
                                             ("I want to die, I can't go on", True),
                                             ("我老公说他不想活了,一个人出门了", False),
                                             ("My friend says she's going to take all her pills tonight", False)])
async def test_despair_spoken_of_oneself_gets_words_for_them_and_the_help_lines(services, text, self_):
    reply = plain_text((await handle(Inbound("console", "15", "15", text=text), services)).messages[0].text)
    assert "12356" in reply and "962525" in reply and "110" in reply
    bystander = "不要让他一个人" in reply or "do not leave them alone" in reply
    warm = "我很担心您" in reply or "I'm worried about you" in reply
    assert (warm, bystander) == ((True, False) if self_ else (False, True)), reply


@dataclass
class _Mention:  # what the honest fallback quotes from the report
    term: str
    passage: str


_URGENT = re.compile(r"紧急|(?<!学)急|emergenc|urgent", re.I)  # 学急救: learning first aid is no emergency


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"[。！？!?;；\n]|\. ", plain_text(text)) if s.strip()]


def test_no_reply_names_12345_for_an_emergency(core):
    """12345 is the citizen hotline: fine for what can wait, never the number for an emergency.
    Every template (the error, the throttle notice, the fallback, help...), in both languages, with
    and without its optional parts, and every entry's answer."""
    values = sample_values(core.content)
    rendered = []
    for name in core.texts.names():
        for lang in ("zh", "en"):
            for flags in ({}, {"mention": _Mention("电梯", "加装电梯"), "invalid": True, "alerted": False, "specific": False}):
                rendered.append((name, core.texts.render(name, lang, **{**values, **flags})))
    rendered += [(f"answer {entry.id}", core.texts.render("answer", lang, entry=entry))
                 for entry in core.content.entries.values() for lang in ("zh", "en")]
    assert len(rendered) > 200
    wrong = [(name, s) for name, text in rendered for s in _sentences(text) if "12345" in s and _URGENT.search(s)]
    assert wrong == []
    for name in ("error", "too_fast", "fallback", "help"):
        for lang in ("zh", "en"):
            text = core.texts.render(name, lang, **values)
            assert all(n in text for n in ("110", "120", "119")), (name, lang, text)


def test_content_eval_counts_emergencies_per_kind_and_false_alarms_per_label(core):
    from content.model import Understanding
    from content.training import Example, emergency_figures

    gas = core.model.signs.kinds[1]
    examples = [Example("a", "emergency", kind="gas"), Example("b", "emergency", kind="gas"),
                Example("c", "emergency", kind="lift"), Example("d", "complaint"), Example("e", "anti_fraud"),
                Example("f", "anti_fraud", source="examples/emergency_near_miss.jsonl:3")]
    alarm, calm = Understanding("emergency", dangers=(gas,)), Understanding("fallback")
    lines = emergency_figures(examples, [alarm, calm, Understanding("emergency"), calm, calm, alarm])
    text = "\n".join(lines)
    assert "gas            1/2  missed 1" in text and "lift           1/1" in text
    assert "complaint 0/1, topic 1/2" in text and "near misses 1/1, the others 0/2" in text
    assert "raised by the signs 1, by the model alone 0" in text
