"""`content check` refuses a false edit of an answer: a wrong count or year, an invented address,
phone or opening hours, "free", a half-year swapped, a figure changed in the English only; and the
shipped content passes. Each edit is made to a copy of the content, the way a hurried editor would."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from content.check import run_check
from content.loader import AREAS_DIR

ROOT = Path(__file__).resolve().parent.parent


def _answer_span(text: str, entry: str, lang: str) -> tuple[int, int]:
    start = text.index(f"id: {entry}\n")
    begin = text.index(f"      {lang}: |\n", text.index("    answer:", start)) + len(f"      {lang}: |\n")
    end = text.index("\n      ", begin)
    while text.startswith("        ", end + 1):  # the block's further lines
        end = text.index("\n", end + 1)
    return begin, end


def _edit(areas: Path, file: str, entry: str, lang: str, old: str | None, new: str) -> None:
    """Replace `old` by `new` in the entry's answer (or add `new` as its first line)."""
    path = areas / file
    text = path.read_text("utf-8")
    begin, end = _answer_span(text, entry, lang)
    answer = text[begin:end]
    if old is None:
        answer = f"        {new}\n" + answer
    else:
        assert old in answer, (entry, lang, old)
        answer = answer.replace(old, new, 1)
    path.write_text(text[:begin] + answer + text[end:], "utf-8")


# (file, entry, language, text replaced or None to add a line, the false text)
FALSE_EDITS = {
    "count whose digits are elsewhere in the report": ("elderly.yaml", "elderly_milk_voucher", "zh", "2731张", "1183张"),
    "count of another role in the same quote": ("safety.yaml", "fire_safety", "zh", "居民用户17户", "居民用户112户"),
    "count of another measure": ("housing.yaml", "elevator_installation", "zh", "开工22台", "开工36台"),
    "wrong year": ("elderly.yaml", "elderly_milk_voucher", "zh", "2024年街道发放", "2023年街道发放"),
    "the review's figure put under the plans' year": ("jobs.yaml", "jobs_job_fairs", "zh", "2024年街道举办6场", "2025年街道举办6场"),
    "invented address": ("elderly.yaml", "good_life_hall", "zh", None, "峨山路美好生活馆地址：峨山路88号。"),
    "invented road": ("business.yaml", "business_service_center", "zh", None, "中心位于东方路。"),
    "invented phone": ("elderly.yaml", "elderly_milk_voucher", "zh", None, "咨询电话58881234。"),
    "invented opening hours": ("childcare.yaml", "childcare_baby_house", "zh", None, "宝宝屋开放时间为周一至周五。"),
    "invented daily hours": ("elderly.yaml", "elderly_service_center", "zh", None, "中心每天开放。"),
    "invented free": ("childcare.yaml", "childcare_baby_house", "zh", None, "宝宝屋免费开放。"),
    "invented not charging": ("safety.yaml", "mediation", "zh", None, "人民调解不收费。"),
    "half-year swapped": ("culture.yaml", "eshan_market_culture_center", "zh", "上半年", "下半年"),
    "invented procedure": ("jobs.yaml", "jobs_startup_subsidy", "zh", None, "开办费补贴须由居委会推荐。"),
    "wrong count in English only": ("elderly.yaml", "elderly_milk_voucher", "en", "2,731", "2,713"),
    "wrong year in English only": ("elderly.yaml", "elderly_milk_voucher", "en", "in 2024", "in 2023"),
    "number word in English only": ("jobs.yaml", "jobs_job_fairs", "en", "6 job fairs", "seven job fairs"),
    "invented address in English": ("elderly.yaml", "good_life_hall", "en", None, "The Eshan Road hall is at No. 88."),
    "invented phone in English": ("elderly.yaml", "elderly_milk_voucher", "en", None, "Call 5888 1234 for details."),
    "invented hours in English": ("elderly.yaml", "elderly_service_center", "en", None, "The centre is open daily, 9am to 5pm."),
    "invented free in English": ("childcare.yaml", "childcare_baby_house", "en", None, "Baby rooms are free."),
    "invented weekends in English": ("culture.yaml", "culture_activities", "en", None, "Events are held at weekends."),
    "half-year swapped in English": ("culture.yaml", "eshan_market_culture_center", "en", "first half", "second half"),
    "invented procedure in English": ("jobs.yaml", "jobs_startup_subsidy", "en", None,
                                      "You must be recommended by your neighbourhood committee."),
}


@pytest.fixture
def areas(tmp_path) -> Path:
    copy = tmp_path / "areas"
    shutil.copytree(AREAS_DIR, copy)
    return copy


def test_the_shipped_content_passes():
    assert [str(p) for p in run_check()] == []


@pytest.mark.parametrize("kind", sorted(FALSE_EDITS))
def test_a_false_edit_is_refused(areas, kind):
    file, entry, lang, old, new = FALSE_EDITS[kind]
    _edit(areas, file, entry, lang, old, new)
    problems = [str(p) for p in run_check(areas_dir=areas)]
    assert any(p.startswith(f"{file}: {entry}: ") for p in problems), (kind, problems)


def test_the_command_refuses_the_edits_and_names_each_entry(areas):
    for file, entry, lang, old, new in FALSE_EDITS.values():
        _edit(areas, file, entry, lang, old, new)
    run = subprocess.run([sys.executable, "-m", "bot", "content", "check", "--areas", str(areas)], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 1
    named = {line.split(": ")[1] for line in run.stdout.splitlines() if line.count(": ") >= 2}
    assert {entry for _, entry, *_ in FALSE_EDITS.values()} <= named, run.stdout


def test_a_sentence_marked_as_not_from_the_report_may_say_what_the_report_does_not(areas):
    _edit(areas, "childcare.yaml", "childcare_baby_house", "zh", None, "报告没有写明宝宝屋是否免费、是否每天开放。")
    _edit(areas, "childcare.yaml", "childcare_baby_house", "en", None, "The report does not say whether it is free or open daily.")
    assert [str(p) for p in run_check(areas_dir=areas)] == []


# More ways of saying the same false thing: each must be refused too.
MORE_FALSE_EDITS = [
    ("childcare.yaml", "childcare_baby_house", "zh", None, "宝宝屋无需付费，随到随托。"),
    ("childcare.yaml", "childcare_baby_house", "en", None, "It does not cost anything to use a baby room."),
    ("childcare.yaml", "childcare_baby_house", "en", None, "There is no fee."),
    ("culture.yaml", "eshan_market_culture_center", "zh", "上半年", "年底"),
    ("elderly.yaml", "elderly_milk_voucher", "zh", None, "本市户籍年满八十周岁的老人可以领取。"),
    ("elderly.yaml", "elderly_milk_voucher", "en", None, "Registered residents aged 80 and over qualify."),
    ("elderly.yaml", "elderly_service_center", "zh", None, "义诊需提前预约，请带身份证。"),
    ("elderly.yaml", "elderly_service_center", "en", None, "Please book an appointment and bring your ID card."),
    ("business.yaml", "business_service_center", "zh", None, "中心电话：021-58881234。"),
    ("business.yaml", "business_service_center", "en", None, "The centre is on Dongfang Road, No. 3."),
]


@pytest.mark.parametrize("edit", MORE_FALSE_EDITS, ids=[e[4][:12] if e[3] is None else e[4] for e in MORE_FALSE_EDITS])
def test_other_wordings_of_a_false_edit_are_refused(areas, edit):
    file, entry, lang, old, new = edit
    _edit(areas, file, entry, lang, old, new)
    problems = [str(p) for p in run_check(areas_dir=areas)]
    assert any(p.startswith(f"{file}: {entry}: ") for p in problems), (edit, problems)
