"""`python -m bot content check` finds each kind of problem and names file and entry."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from content.check import DEFAULT_TOPICS, quote_warnings, run_check
from content.loader import AREAS_DIR, REPORT_PATH, read_content
from handlers.router import answer_text

ROOT = Path(__file__).resolve().parent.parent
NEW_ENTRIES = ("old_sites_redevelopment", "illegal_structures_environment", "restaurant_fumes_chimney", "juwei_election",
               "window_bars_removal", "after_school_service", "parks_green_space", "public_legal_services", "baojiaolou",
               "quarter_hour_life_circle", "grid_system")


@pytest.fixture
def areas(tmp_path) -> Path:
    copy = tmp_path / "areas"
    shutil.copytree(AREAS_DIR, copy)
    return copy


def _topics(tmp_path, extra: list[str] = ()) -> Path:
    ids = [*(json.loads(DEFAULT_TOPICS.read_text("utf-8"))["topics"] if DEFAULT_TOPICS.exists() else []),
           *({"id": i} for i in extra)]
    path = tmp_path / "topics.json"
    path.write_text(json.dumps({"topics": ids}), encoding="utf-8")
    return path


def test_the_shipped_content_base_is_clean(tmp_path):
    assert [str(p) for p in run_check(topics_path=_topics(tmp_path))] == []


def test_broken_yaml_names_the_file(areas):
    (areas / "elderly.yaml").write_text("area: [unclosed\n", encoding="utf-8")
    problems = [str(p) for p in run_check(areas_dir=areas)]
    assert any(p.startswith("elderly.yaml: not valid YAML") for p in problems), problems


def test_quote_not_in_report_names_file_and_entry(areas):
    path = areas / "elderly.yaml"
    text = path.read_text("utf-8")
    quote = text.index("2731", text.index("    source:", text.index("id: elderly_milk_voucher")))
    path.write_text(text[:quote] + "9999" + text[quote + 4:], "utf-8")
    problems = [str(p) for p in run_check(areas_dir=areas)]
    assert any(p.startswith("elderly.yaml: elderly_milk_voucher: source quote not found verbatim") for p in problems), problems


def test_missing_topic_is_reported(areas, tmp_path):
    problems = [str(p) for p in run_check(areas_dir=areas, topics_path=_topics(tmp_path, ["parking_permits"]))]
    assert "topics.json: parking_permits: topic has no entry in the content base" in problems


def test_invented_figure_is_reported(areas):
    path = areas / "elderly.yaml"
    text = path.read_text("utf-8")
    marker = "      zh: |\n"
    start = text.index(marker, text.index("id: elderly_milk_voucher")) + len(marker)
    path.write_text(text[:start] + "        咨询电话58881234。\n" + text[start:], "utf-8")
    problems = [str(p) for p in run_check(areas_dir=areas)]
    assert any("elderly_milk_voucher: answer states '58881234'" in p for p in problems), problems


def test_the_national_emergency_lines_are_not_invented_figures(areas):
    _prepend_to_answer(areas, "elderly_milk_voucher", "老人摔倒了请拨打120，被骗了拨打110或96110，着火拨打119。")
    assert [str(p) for p in run_check(areas_dir=areas)] == []
    _prepend_to_answer(areas, "elderly_milk_voucher", "心里难受可拨打心理援助热线12356，上海962525。")  # the help lines
    assert [str(p) for p in run_check(areas_dir=areas)] == []
    _prepend_to_answer(areas, "elderly_milk_voucher", "也可拨打962110。")  # a number that only looks like one
    assert any("answer states '962110'" in str(p) for p in run_check(areas_dir=areas))
    _prepend_to_answer(areas, "elderly_milk_voucher", "青少年拨打12355。")  # a real line, but not one we may name
    assert any("answer states '12355'" in str(p) for p in run_check(areas_dir=areas))


def _prepend_to_answer(areas, entry_id: str, text: str) -> None:
    path = areas / "elderly.yaml"
    content = path.read_text("utf-8")
    marker = "      zh: |\n"
    start = content.index(marker, content.index(f"id: {entry_id}")) + len(marker)
    path.write_text(content[:start] + f"        {text}\n" + content[start:], "utf-8")


def test_shanghainese_in_an_answer_is_reported(areas):
    _prepend_to_answer(areas, "elderly_milk_voucher", "牛奶券啥辰光发，几钿一张，阿拉也不晓得。")
    problems = [str(p) for p in run_check(areas_dir=areas)]
    assert "elderly.yaml: elderly_milk_voucher: Chinese answer uses Shanghainese 几钿, 啥, 辰光, 阿拉: write standard Chinese" \
        in problems, problems


def test_ordinary_words_that_contain_a_dialect_character_pass(areas):
    _prepend_to_answer(areas, "elderly_milk_voucher", "树木采伐和讨伐不是上海话。")
    assert [str(p) for p in run_check(areas_dir=areas)] == []


def test_half_width_punctuation_in_a_chinese_answer_is_reported(areas):
    _prepend_to_answer(areas, "elderly_silver_insurance", "保险(银发无忧)的\"理赔\",请问居委会.金额2734.11万元。")
    problems = [str(p) for p in run_check(areas_dir=areas)]
    assert any(p.startswith("elderly.yaml: elderly_silver_insurance: Chinese answer has half-width punctuation")
               and all(mark in p for mark in '"(),.') for p in problems), problems


def test_quote_with_unpaired_quotation_marks_is_a_warning_not_a_problem(areas):
    path = areas / "elderly.yaml"
    text = path.read_text("utf-8")
    glitch = "深化推进老伙伴”“老帮友等各类助老为老服务项目"  # the report lost the opening “ of 老伙伴
    milk = "      - '发放高龄老人牛奶券2731张'"
    path.write_text(text.replace(milk, f"{milk}\n      - '{glitch}'"), "utf-8")
    base, _ = read_content(areas)
    assert [str(w) for w in quote_warnings(base)] == [
        f"elderly.yaml: elderly_milk_voucher: quotation marks do not pair up in quote {glitch!r}"]
    assert [str(p) for p in run_check(areas_dir=areas)] == []


def test_the_shipped_quotes_pair_their_quotation_marks():
    base, _ = read_content()
    assert [str(w) for w in quote_warnings(base)] == []


def test_schema_error_names_the_entry(areas):
    path = areas / "jobs.yaml"
    text = path.read_text("utf-8")
    path.write_text(text.replace("    source:", "    sources:", 1), "utf-8")
    problems = [str(p) for p in run_check(areas_dir=areas)]
    assert any(p.startswith("jobs.yaml: jobs_job_fairs:") for p in problems), problems


def test_command_exits_1_on_a_problem_and_0_when_clean(areas):
    def check(*args):
        return subprocess.run([sys.executable, "-m", "bot", "content", "check", *args], cwd=ROOT,
                              capture_output=True, text=True)

    clean = check()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (areas / "safety.yaml").write_text("entries: []\n", encoding="utf-8")
    broken = check("--areas", str(areas))
    assert broken.returncode == 1
    assert broken.stdout.splitlines()[0].startswith("safety.yaml: ")


def test_the_report_copy_is_the_shared_report():
    shared = DEFAULT_TOPICS.parent.parent / "report.txt"
    if not shared.exists():
        pytest.skip("shared report not present")
    assert REPORT_PATH.read_text("utf-8") == shared.read_text("utf-8")


# Each entry added for issue 11, asked as a resident would (not one of its sample questions),
# through the real router: the model and the answer template.
@pytest.mark.parametrize("question, lang, topic, says", [
    ("卜蜂莲花关了介许多辰光，啥时候再开门？", "zh", "old_sites_redevelopment", "规划证券报大楼、卜蜂莲花的重新利用和开发"),
    ("What are the plans for the Securities News building?", "en", "old_sites_redevelopment", "planning stage"),
    ("阿拉小区雨污混接有人来查伐", "zh", "illegal_structures_environment", "111"),
    ("饭店共用烟囱那个办法是怎么回事", "zh", "restaurant_fumes_chimney", "38.5%"),
    ("居委会几时换届，阿拉好去投票伐", "zh", "juwei_election", "居委换届选举"),
    ("屋里防盗窗一定要拆掉吗", "zh", "window_bars_removal", "2568"),
    ("小学放学以后街道有课后服务吗", "zh", "after_school_service", "160余场"),
    ("金石榴公园在啥地方", "zh", "parks_green_space", "蓝村园·金石榴公园"),
    ("Any parks nearby for a walk with the kids?", "en", "parks_green_space", "Lancun Garden"),
    ("哪里可以免费法律咨询", "zh", "public_legal_services", "公共法律服务"),
    ("买的房子烂尾了，街道管伐", "zh", "baojiaolou", "保交楼"),
    ("一刻钟便民生活圈里有点啥", "zh", "quarter_hour_life_circle", "一刻钟便民生活圈"),
    ("我们楼的网格员是谁", "zh", "grid_system", "1+3+26+124+1416"),
    ("Who is my grid worker?", "en", "grid_system", "1+3+26+124+1416"),
])
async def test_new_entries_answer_a_resident_question_through_the_router(core, question, lang, topic, says):
    reply = await answer_text(question, lang, None, core)
    assert (reply.kind, reply.topic) == ("answer", topic), (reply.kind, reply.topic, reply.candidates)
    assert says in reply.messages[0].text


def test_each_new_entry_has_varied_sample_questions(core):
    for eid in NEW_ENTRIES:
        questions = core.content.entries[eid].questions
        assert len(questions.zh) >= 5 and len(questions.en) >= 3, eid


def test_the_templates_render_and_a_broken_one_is_reported(tmp_path):
    from handlers.texts import TEMPLATES_DIR, Texts
    from handlers.texts_check import check_templates

    base, _ = read_content(AREAS_DIR)
    assert [str(p) for p in check_templates(base)] == []
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    (templates / "help.j2").write_text("{{ no_such_value }}", encoding="utf-8")
    problems = [str(p) for p in check_templates(base, Texts(templates))]
    assert len(problems) == 2 and all(p.startswith("templates/help.j2") and "does not render" in p for p in problems), problems


def test_the_command_line_check_includes_the_templates(tmp_path):
    from handlers.texts_check import check_templates

    assert [str(p) for p in run_check(checks=(check_templates,), topics_path=_topics(tmp_path))] == []
