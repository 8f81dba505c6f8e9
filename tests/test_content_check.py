"""`python -m bot content check` finds each kind of problem and names file and entry."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from content.check import DEFAULT_TOPICS, run_check
from content.loader import AREAS_DIR, REPORT_PATH

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
