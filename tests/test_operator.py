"""What an operator meets (issue 24): the deployment guide's unit file and backup, the command
line's one-line errors, and where things go."""
from __future__ import annotations

import configparser
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.__main__ import main
from handlers.texts import Texts

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")


def block(language: str, first_line: str) -> str:
    """The fenced block of the guide that starts with `first_line`."""
    for found in re.findall(rf"```{language}\n(.*?)```", GUIDE, re.S):
        if found.startswith(first_line):
            return found
    raise AssertionError(f"no {language} block starting {first_line!r} in docs/deployment.md")


def test_the_unit_file_gives_the_service_a_writable_model_cache():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string(block("ini", "# /etc/systemd/system/tangqiao-bot.service").partition("\n")[2])
    service = unit["Service"]
    assert service["ProtectSystem"] == "strict"
    cache = service["CacheDirectory"]
    assert service["Environment"] == f"TANGQIAO_CACHE_DIR=/var/cache/{cache}"
    writable = service["ReadWritePaths"].split()
    env = dict(line.split("=", 1) for line in block("ini", "# /etc/tangqiao-bot/env").splitlines()[1:] if "=" in line)
    for setting in ("EXPORT_DIR", "PHOTO_DIR"):  # what the service writes lies in a writable path
        assert any(env[setting].startswith(path) for path in writable), setting
    assert env["TANGQIAO_CACHE_DIR"] == f"/var/cache/{cache}"
    assert service["EnvironmentFile"] == "/etc/tangqiao-bot/env"


def test_nginx_passes_the_staff_console_and_keeps_metrics_inside():
    nginx = block("nginx", "# /etc/nginx/sites-available/tangqiao-bot")
    assert re.search(r"location /staff/\s*\{[^}]*proxy_pass http://127.0.0.1:8080;", nginx)
    assert nginx.count("location /staff/") == 1  # nginx -t refuses a location given twice
    assert "location = /telegram" in nginx and "location = /wechat" in nginx
    assert "/metrics" not in nginx  # answered by `location / { return 404; }`


@pytest.mark.skipif(not shutil.which("sqlite3"), reason="the sqlite3 command line tool is not installed")
def test_the_sqlite_backup_of_the_guide_restores(tmp_path):
    database = tmp_path / "tangqiao.db"
    live = sqlite3.connect(database)  # the running bot
    try:
        live.execute("PRAGMA journal_mode=WAL")
        live.execute("CREATE TABLE ticket (id INTEGER PRIMARY KEY, number TEXT)")
        live.execute("INSERT INTO ticket (number) VALUES ('TQ-2612-0001')")
        live.commit()
        line = block("sh", "0 3 * * * tangqiao sqlite3").split("tangqiao sqlite3 ", 1)[1].strip()
        command = line.replace("/opt/tangqiao-bot/var/tangqiao.db", str(database)).replace(
            "/var/backups/tangqiao/tangqiao-$(date +\\%F).db", str(tmp_path / "backup.db"))
        subprocess.run(f"sqlite3 {command}", shell=True, check=True)  # while the database is open, in WAL mode
        live.execute("INSERT INTO ticket (number) VALUES ('TQ-2612-0002')")  # after the backup
        live.commit()
    finally:
        live.close()  # the bot stopped
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"tangqiao.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", database)
    restored = sqlite3.connect(database)
    try:
        assert restored.execute("SELECT number FROM ticket").fetchall() == [("TQ-2612-0001",)]
    finally:
        restored.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_help_and_the_privacy_notice_name_forgetme(lang):
    texts = Texts()
    assert "/forgetme" in texts.render("help", lang)
    assert "/forgetme" in texts.render("welcome", lang)


def test_a_wrong_areas_folder_is_one_line(tmp_path, capsys):
    assert main(["content", "check", "--areas", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: --areas {tmp_path / 'nowhere'}: not a folder of area files (*.yaml)"]


def test_staff_passwd_without_a_terminal_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bot", "staff", "passwd", "wang"], cwd=ROOT, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, start_new_session=True, timeout=120,  # no terminal
                          env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'staff.db'}"})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1:] == [
        "error: no terminal to type the password in: give it on stdin with --password-stdin"]
    assert "Traceback" not in done.stderr


def test_export_writes_to_export_dir_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'export.db'}")
    monkeypatch.setenv("EXPORT_DIR", str(tmp_path / "exports"))
    assert main(["export", "--from", "2026-11-23", "--to", "2026-11-29", "--format", "csv"]) == 0
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [
        f"tangqiao-20261123-20261129-{sheet}.csv" for sheet in ("events", "not_in_report", "opinions", "summary", "tickets")]
    assert not (tmp_path / "var" / "exports").exists()
