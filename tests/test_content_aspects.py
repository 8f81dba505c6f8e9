"""A question that asks one aspect of an entry (who, where, when, cost, how to apply, what was
done) gets that aspect's line first, through the real router: the report's line, only the items
of that aspect when the line lists what the report does not say, or plainly that it does not."""
from __future__ import annotations

import pytest

from content.aspects import aspect_line, aspect_of, cross_validated_accuracy
from content.loader import load_content
from handlers.router import answer_text


@pytest.mark.parametrize("question, lang, topic, first", [
    ("宝宝屋收不收钞票", "zh", "childcare_baby_house", "费用：报告没有写明是否收费。"),
    ("美好生活馆到底在哪条路上", "zh", "good_life_hall", "在哪里：美好生活馆在峨山路、北园路、茂兴路"),
    ("暑托班几时开始报名", "zh", "childcare_holiday_class", "什么时候：报告没有写明什么时候报名。"),
    ("我妈八十五了，她有资格领牛奶券吗", "zh", "elderly_milk_voucher", "谁可以：报告没有写明多大年纪算高龄、谁可以领。"),
    ("开办费补贴要怎么申请", "zh", "jobs_startup_subsidy", "怎么办理："),
    ("去年街道发了多少张牛奶券", "zh", "elderly_milk_voucher", "报告写的进展：2024年街道发放高龄老人牛奶券2731张。"),
    ("How much does the Silver Worry-Free insurance cost?", "en", "elderly_silver_insurance",
     "<b>Cost</b>: The report does not say what the premium is."),
    ("Where is the senior service centre?", "en", "elderly_service_center", "<b>Where</b>: "),
])
async def test_a_question_about_one_aspect_gets_its_line_first(core, question, lang, topic, first):
    reply = await answer_text(question, lang, None, core)
    assert (reply.kind, reply.topic) == ("answer", topic), (reply.kind, reply.topic, reply.candidates)
    text = reply.messages[0].text
    assert text.replace("<b>", "").replace("</b>", "").startswith(first.replace("<b>", "").replace("</b>", "")), text[:200]
    assert core.content.entries[topic].title.get(lang) in text  # and then the card


async def test_a_question_about_the_whole_subject_gets_the_card_alone(core):
    reply = await answer_text("牛奶券是啥", "zh", None, core)
    assert reply.topic == "elderly_milk_voucher" and reply.messages[0].text.startswith("<b>高龄老人牛奶券</b>")


def test_an_aspect_the_answer_never_speaks_of_is_not_stated():
    entry = load_content().entries["baojiaolou"]
    assert aspect_of("保交楼要交多少钱") == "cost" and aspect_line(entry, "cost", "zh") is None


def test_the_aspect_classifier_is_learned_and_measured():
    accuracy, n = cross_validated_accuracy()
    assert n >= 200 and accuracy >= 0.75


def test_not_stated_is_said_in_both_languages():
    from handlers.texts import Texts

    texts = Texts()
    assert texts.render("aspect", "zh", aspect="cost", line=None, verdict=None, lacks=False) == "<b>费用</b>：报告未说明。"
    assert texts.render("aspect", "en", aspect="when", line=None, verdict=None, lacks=False) == "<b>When</b>: The report does not say."
