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

ROOT = Path(__file__).resolve().parent.parent


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
    path.write_text(text.replace("      - '发放高龄老人牛奶券2731张'", f"      - '发放高龄老人牛奶券2731张'\n      - '{glitch}'"), "utf-8")
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
