"""The staff web console (bot/console.py): accounts from the command line, then real HTTP on
loopback against the application `python -m bot serve` runs, with the real SQLite file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


def staff_cli(database: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "PYTHONPATH": str(ROOT)}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot", "staff", *args], input=password and password + "\n",
                          capture_output=True, text=True, env=env, cwd=database.parent, timeout=60)


def test_staff_accounts_from_the_command_line(tmp_path):
    database = tmp_path / "bot.db"
    assert staff_cli(database, "add", "wang", "--admin", "--password-stdin", password=PASSWORD).returncode == 0
    assert staff_cli(database, "add", "li", "--password-stdin", password=PASSWORD).returncode == 0
    again = staff_cli(database, "add", "li", "--password-stdin", password=PASSWORD)
    assert again.returncode == 1 and "exists already" in again.stderr
    short = staff_cli(database, "add", "zhao", "--password-stdin", password="short")
    assert short.returncode == 1 and "at least 10" in short.stderr
    (stored,), = query_rows_sqlite(database, "select password_hash from staffaccount where name = 'li'")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert staff_cli(database, "disable", "li").returncode == 0
    assert staff_cli(database, "passwd", "nobody", "--password-stdin", password=PASSWORD).returncode == 1
    listed = staff_cli(database, "list").stdout.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["li", "disabled"], ["wang", "admin"]]
    assert staff_cli(database, "passwd", "li", "--password-stdin", password=PASSWORD + "!").returncode == 0
    assert query_rows_sqlite(database, "select disabled from staffaccount where name = 'li'") == [(0,)]


def query_rows_sqlite(database: Path, sql: str) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(database) as conn:
        return conn.execute(sql).fetchall()
