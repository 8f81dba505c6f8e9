"""Understanding one message as residents write it (issue 20): politeness around a question,
pinyin, another district or city, asking after one's complaint, and follow-ups to an answer.

Messages written for these tests (not the measuring sets, not the examples the model learns
from), read by the model the bot runs (`core.model`) and by the real router through
`python -m bot ask --json`.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from content.normalize import normalize
from content.politeness import core as polite_core

ROOT = Path(__file__).resolve().parent.parent

# message -> what the router must answer: an entry id, or a kind
ASKED = {
    # 1. politeness never hides a question; a greeting only when nothing else is said
    "同志你好,请问老年人去社区食堂吃饭在哪里?谢谢啦": "community_meals",
    "小同志你好,麻烦你,我想问问牛奶券到哪里领,辛苦了": "elderly_milk_voucher",
    "您好!请问宝宝屋怎么报名?谢谢您": "childcare_baby_house",
    "Hi! Thanks so much. Also, where can my father get the senior card?": "elderly_preferential_card",
    "小同志你好,谢谢侬": "greeting",
    "Hello there, thank you!": "greeting",
    # 2. pinyin, with or without tones, spaced or not, is read as the Chinese it spells
    "gaolinglaoren niunaiquan zai nali ling": "elderly_milk_voucher",
    "lǎo nián rén yōu dài zhèng zěn me bàn": "elderly_preferential_card",
    "bao3bao3wu1 zen3me shen1qing3": "childcare_baby_house",
    "wo yao tousu louxia shaokao tiantian chao dao banye": "complaint",
    "lou dao li mao yan le": "emergency",
    "wo mama shuaidao le qi bu lai": "emergency",
    "chufang li meiqi wei hen zhong": "emergency",
    "Can women join the choir?": "community_arts_teams",  # English whose words happen to be pinyin
    # 3. another district or city named as the subject: the honest fallback; Tangqiao, Pudong, Shanghai answered
    "徐汇区加装电梯能补贴多少钱": "fallback",
    "我人在杭州,宝宝屋要怎么申请": "fallback",
    "Is there a senior canteen in Minhang?": "fallback",
    "wo zhu zai minhang, laonianren youdaizheng zai nali ban": "fallback",
    "浦东新区的老房子加装电梯怎么申请": "elevator_installation",
    "塘桥的宝宝屋怎么申请": "childcare_baby_house",
    # 4. asking after one's complaint is not a new complaint
    "帮我查一下我的投诉": "ticket_status",
    "我上回反映的那件事后来怎么样了?": "ticket_status",
    "please check my complaint": "ticket_status",
    "What happened to the report I sent?": "ticket_status",
    "cha yi xia wo de tousu": "ticket_status",
    "我要投诉楼下烧烤店油烟": "complaint",
}
PINYIN = [q for q in ASKED if "gaoling" in q or "lǎo" in q or "bao3" in q or q.startswith(("wo ", "lou ", "chufang", "cha "))]


@pytest.fixture(scope="module")
def asked() -> dict[str, dict]:
    """Every message of ASKED through `python -m bot ask --json`, once."""
    questions = list(ASKED)
    out = subprocess.run([sys.executable, "-m", "bot", "ask", "--json"], input="\n".join(questions) + "\n",
                         capture_output=True, text=True, cwd=ROOT, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["q"] for r in rows] == questions
    return {r["q"]: r for r in rows}


def _got(u) -> str:
    return u.topic if u.kind == "answer" else u.kind


@pytest.mark.parametrize("text", list(ASKED))
def test_the_model_reads_each_message(core, text):
    assert _got(core.model.understand(text)) == ASKED[text]


@pytest.mark.parametrize("text", list(ASKED))
def test_the_router_answers_each_message(asked, text):
    row = asked[text]
    assert (row["topic"] if row["kind"] == "answer" else row["kind"]) == ASKED[text], row


@pytest.mark.parametrize("text", PINYIN)
def test_pinyin_is_read_as_chinese_and_answered_in_chinese(core, asked, text):
    understood = core.model.understand(text)
    assert understood.read_as and all("\u4e00" <= c <= "\u9fff" for c in understood.read_as), understood
    reply = asked[text]["reply"]
    assert any("\u4e00" <= c <= "\u9fff" for c in reply), reply


@pytest.mark.parametrize("text, chinese", [
    ("laonianren youdaizheng zai nali ban", "老年人优待证在哪里办"),
    ("louli mao yan le", "楼里冒烟了"),
    ("wo yao tousu louxia shaokao", "我要投诉楼下烧烤"),
    ("lao3nian2ren2 niu2nai3quan4", "老年人牛奶券"),
])
def test_pinyin_spells_the_words_of_our_texts(core, text, chinese):
    assert core.model.understand(text).read_as == chinese


@pytest.mark.parametrize("text", ["Where is the community canteen?", "women", "hi", "tie", "Is there a baby room?", "name", "panda",
                                  "asdf qwerty", "12345", "ok"])
def test_english_is_not_pinyin(core, text):
    assert core.model.understand(text).read_as is None


@pytest.mark.parametrize("text, inner", [
    ("同志你好,请问社区食堂在哪里?谢谢啦", "社区食堂在哪里"),
    ("麻烦你,宝宝屋怎么报名,辛苦了", "宝宝屋怎么报名"),
    ("Thank you. One more question: how do I register a rental?", "how do i register a rental?"),
    ("好的谢谢,另外问一下,垃圾分类几点投放?", "垃圾分类几点投放?"),
    ("您好,在吗?", "您好,在吗?"),  # nothing else said: the greeting stays
    ("谢谢你们的帮助,塘桥变化真大", "谢谢你们的帮助,塘桥变化真大"),  # thanks that is the message itself
    ("thank you for fixing the lights", "thank you for fixing the lights"),
    ("老师说孩子要参加围棋比赛", "老师说孩子要参加围棋比赛"),  # 老师 as the subject, not an address
    ("please fix the light on the third floor", "fix the light on the third floor"),
    ("my property fee went up", "my property fee went up"),  # 'ty' is thanks only as a word
])
def test_polite_wrappers_come_off(text, inner):
    assert polite_core(normalize(text)) == inner


# 5. a follow-up right after an answer: (message, the entry last answered) -> what it is about
FOLLOW_UPS = [
    ("那在哪里办?", "elderly_preferential_card", "elderly_preferential_card"),
    ("要带什么材料?", "elderly_preferential_card", "elderly_preferential_card"),
    ("周末开不开?", "community_meals", "community_meals"),
    ("那几点开门", "good_life_hall", "good_life_hall"),
    ("九十岁以上的呢?", "elderly_milk_voucher", "elderly_milk_voucher"),
    ("What about people over 80?", "elderly_milk_voucher", "elderly_milk_voucher"),
    ("how much does it cost?", "elevator_installation", "elevator_installation"),
    ("And on Sundays?", "community_meals", "community_meals"),
    ("na yao dai shenme cailiao", "elderly_preferential_card", "elderly_preferential_card"),
    ("zhoumo kai ma", "community_meals", "community_meals"),
    # a topic of its own ignores the context
    ("那宝宝屋呢?", "elderly_milk_voucher", "childcare_baby_house"),
    ("What about the summer childcare class?", "community_meals", "childcare_holiday_class"),
    ("暑托班几点开始报名", "community_meals", "childcare_holiday_class"),
    # and so do the kinds, and another district
    ("谢谢你", "community_meals", "greeting"),
    ("楼道里的灯坏了一个礼拜没人修", "community_meals", "complaint"),
    ("厨房里冒烟了,好大的烟", "community_meals", "emergency"),
    ("我在闵行,那在哪里办?", "elderly_preferential_card", "fallback"),
]


@pytest.mark.parametrize("text, context, expected", FOLLOW_UPS)
def test_a_follow_up_is_read_with_the_last_answer(core, text, context, expected):
    assert _got(core.model.understand(text, context=context)) == expected


@pytest.mark.parametrize("text", ["那在哪里办?", "What about people over 80?", "zhoumo kai ma"])
def test_without_the_last_answer_a_follow_up_names_no_entry(core, text):
    assert core.model.understand(text).kind != "answer"


async def test_the_router_answers_a_follow_up_on_the_last_entry(core):
    from handlers.router import answer_text

    for text, lang in [("那要带什么材料?", "zh"), ("What about people over 80?", "en")]:
        understood = core.model.understand(text, context="elderly_milk_voucher")
        reply = await answer_text(text, lang, None, core, None, understood)
        assert (reply.kind, reply.topic) == ("answer", "elderly_milk_voucher")
        assert core.content.entries["elderly_milk_voucher"].title.get(lang) in reply.messages[0].text
