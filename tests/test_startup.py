"""What `python -m bot ask` loads: its start-up is the evaluation's cost per run (bench startup
times it), so it must not import what only the bot with a database uses."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "telegram", "aiohttp", "xlsxwriter", "sklearn", "db.models")
PROBE = f"""
import sys
from bot.__main__ import main
status = main(["ask", "高龄老人牛奶券怎么领"])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r} or m in {HEAVY!r})
print("loaded:", ",".join(loaded))
sys.exit(status)
"""


def _run(folder: Path, code: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(Path.home()),
           **{k: v for k, v in os.environ.items() if k in ("TANGQIAO_CACHE_DIR", "XDG_CACHE_HOME")}}
    return subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_ask_without_a_database_imports_no_database_layer(tmp_path):
    done = _run(tmp_path, PROBE)
    assert done.returncode == 0, done.stderr
    assert "2731" in done.stdout  # it did answer
    assert done.stdout.strip().splitlines()[-1] == "loaded:", done.stdout.splitlines()[-1]


def test_ask_reads_the_env_file(tmp_path):
    (tmp_path / ".env").write_text("BOT_LANGUAGE=fr\n", encoding="utf-8")
    done = _run(tmp_path, "import sys; from bot.__main__ import main; sys.exit(main(['ask', '你好']))")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: BOT_LANGUAGE must be one of zh, en, got 'fr'"]
