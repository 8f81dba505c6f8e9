"""`python -m bot content gaps` lists the report's passages no entry quotes, with their terms,
and counts the unanswered questions that name them when given a file of them."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from content.gaps import render, uncovered
from content.loader import REPORT_PATH, read_content

ROOT = Path(__file__).resolve().parent.parent
REPORT = REPORT_PATH.read_text("utf-8")


def test_a_quoted_passage_is_not_a_gap_and_an_unquoted_one_is():
    base, _ = read_content()
    gaps = {p.text: terms for p, terms in uncovered(REPORT, base)}
    assert not any("化解历史遗留疑难案件4起" in text for text in gaps)  # petitions_xinfang quotes it
    enforcement = next(text for text in gaps if "审核重大执法案件17件" in text)
    assert "17件" in gaps[enforcement]


def test_removing_an_entrys_quotes_shows_its_passage_with_its_terms():
    base, _ = read_content()
    entry = base.entries["sankou_street_services"]
    base.entries["sankou_street_services"] = entry.model_copy(update={"source": ["现在,我代表塘桥街道办事处向大会作工作报告"]})
    shown = render(base)
    assert "开展设摊服务、便民服务329次" in shown and "329次" in shown


def test_the_command_counts_the_questions_that_name_a_gap(tmp_path):
    questions = tmp_path / "unanswered.txt"
    questions.write_text("星期五学堂是什么\n塘桥天气怎么样\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "bot", "content", "gaps", "--questions", str(questions)], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    line = next(line for line in run.stdout.splitlines() if "星期五学堂" in line and "terms:" in line)
    assert line.endswith("asked 1x"), line
    plain = subprocess.run([sys.executable, "-m", "bot", "content", "gaps"], cwd=ROOT, capture_output=True, text=True)
    assert "unanswered questions: none recorded yet" in plain.stdout
