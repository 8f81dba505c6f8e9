"""`python -m bot chat` as a resident starts it: a process of its own and a fresh SQLite file."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def chat(tmp_path: Path, *lines: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_BOT_TOKEN": "",
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"}
    done = subprocess.run([sys.executable, "-m", "bot", "chat"], input="\n".join(lines) + "\n", capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "alembic.runtime.plugins" not in done.stderr  # no line per Alembic plugin at start-up
    return done.stdout


def test_the_console_chat_answers_files_a_report_and_finds_it_after_a_restart(tmp_path):
    """A report whose choices are typed as their labels ("跳过", "提交"), not their numbers;
    then a second process on the same file, where the first thing done with the database is
    /start with no migration to run and no ORM query before it (a Resident built by hand once
    failed there)."""
    first = chat(tmp_path, "阿拉爷爷九十岁了,牛奶券到啥地方去领", "/report 小区门口的路灯坏了", "东方路100弄门口",
                 "跳过", "跳过", "提交")
    assert "高龄老人牛奶券" in first and "据《塘桥街道2025年社代会报告》" in first  # the answer, cited
    number = re.search(r"TQ-\d{4}-\d{4}", first)
    assert number, first[-1500:]
    second = chat(tmp_path, "/mytickets")
    assert number.group() in second


def test_a_typed_choice_is_its_number_or_its_label():
    from bot.channels.common import picked
    from handlers.types import Button

    choices = [Button("⏭ 跳过", "ik:skip"), Button("📝 反映问题", "report"), Button("English", "lang:en")]
    assert picked("2", choices).data == "report"
    assert picked("２。", choices).data == "report"  # a full-width digit, a full stop
    assert picked("跳过", choices).data == "ik:skip" and picked(" 反映问题！", choices).data == "report"
    assert picked("english", choices).data == "lang:en"
    assert picked("4", choices) is None and picked("0", choices) is None
    assert picked("跳过吧,先不拍照", choices) is None  # only the whole label, not a sentence with it in
    assert picked("😀", choices) is None and picked("", choices) is None
