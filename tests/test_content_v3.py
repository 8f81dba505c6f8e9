"""The entries added for issue 21 (the report's gaps), each asked as a resident would, through
the real router (model, decision and answer template): the answer is that entry's and carries the
report's own terms, or says plainly where the report is silent."""
from __future__ import annotations

import pytest

from handlers.router import answer_text

V3_ENTRIES = ("subdistrict_office_contact", "juwu_supervision", "petitions_xinfang", "sankou_street_services",
              "model_community_plan", "shuzhima_street_management", "ten_renewal_projects", "fire_force_stations",
              "ebike_governance", "smart_safety_map", "culture_venues_arts_brands", "government_open_day",
              "yanhuo_street_outdoor", "digital_social_worker")


@pytest.mark.parametrize("question, lang, topic, says", [
    ("街道办事处的地址和电话是多少", "zh", "subdistrict_office_contact", "12345"),
    ("社区事务受理服务中心周日开不开", "zh", "subdistrict_office_contact", "报告没有写明"),
    ("What are the office hours of the subdistrict office?", "en", "subdistrict_office_contact", "does not give"),
    ("业委会的账目谁来审计", "zh", "juwu_supervision", "居务监督委员会"),
    ("Who audits the owners' committee?", "en", "juwu_supervision", "annual audits"),
    ("我想去信访，在哪里接待", "zh", "petitions_xinfang", "报告没有写明信访接待的地点"),
    ("历史积案街道化解了几起", "zh", "petitions_xinfang", "4起"),
    ("三口一视界设摊服务一年搞几次", "zh", "sankou_street_services", "329次"),
    ("路口的便民服务摊还会来伐", "zh", "sankou_street_services", "设摊服务"),
    ("样板社区三年行动还剩几个项目", "zh", "model_community_plan", "12个项目正在积极推进"),
    ("Is 2025 the last year of the model community plan?", "en", "model_community_plan", "final year"),
    ("数治码2.0是做什么的", "zh", "shuzhima_street_management", "数治码"),
    ("共享单车和店招店牌街道怎么管", "zh", "shuzhima_street_management", "商铺门责"),
    ("1+1+26基层消防力量指的是什么", "zh", "fire_force_stations", "1+1+26"),
    ("社区里有消防站吗", "zh", "fire_force_stations", "站点建设"),
    ("电动自行车治理今年有啥动作", "zh", "ebike_governance", "两单一图"),
    ("E-bike governance plans this year?", "en", "ebike_governance", "two lists, one map"),
    ("新时代文明实践分中心在哪", "zh", "culture_venues_arts_brands", "新时代文明实践分中心"),
    ("塘园会文化市集几时办", "zh", "culture_venues_arts_brands", "塘园会文化市集"),
    ("政府开放日百年古渡口是什么活动", "zh", "government_open_day", "百年古渡口"),
    ("烟火街区在哪里", "zh", "yanhuo_street_outdoor", "烟火街区"),
    ("饭店外摆允许吗", "zh", "yanhuo_street_outdoor", "外摆"),
    ("智慧平安地图怎么用", "zh", "smart_safety_map", "2025年的计划"),
    ("Tell me about the smart safety map", "en", "smart_safety_map", "hazards"),
    ("十大更新项目有哪些", "zh", "ten_renewal_projects", "由由集团"),
    ("What are the ten renewal projects?", "en", "ten_renewal_projects", "Youyou"),
    ("数字社工城运助手派单快了多少", "zh", "digital_social_worker", "3倍"),
    ("What does the digital social worker assistant do?", "en", "digital_social_worker", "60%"),
])
async def test_a_gap_of_the_report_is_answered_by_its_entry(core, question, lang, topic, says):
    reply = await answer_text(question, lang, None, core)
    assert (reply.kind, reply.topic) == ("answer", topic), (reply.kind, reply.topic, reply.candidates)
    assert says in reply.messages[0].text


def test_each_new_entry_has_varied_sample_questions_and_examples(core):
    import json

    from content.model import EXAMPLES_DIR

    lines = (EXAMPLES_DIR / "topics_v3.jsonl").read_text("utf-8").splitlines()
    examples = [json.loads(line)["label"] for line in lines if line.strip()]
    for eid in V3_ENTRIES:
        questions = core.content.entries[eid].questions
        assert len(questions.zh) >= 5 and len(questions.en) >= 3, eid
        assert examples.count(eid) >= 8, eid
