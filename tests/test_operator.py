"""What an operator meets (issue 24): the deployment guide's unit file and backup, the command
line's one-line errors, and where things go."""
from __future__ import annotations

import configparser
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
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


@pytest.mark.skipif(not (shutil.which("pg_dump") and shutil.which("pg_restore")), reason="pg_dump is not installed")
def test_the_postgresql_backup_of_the_guide_restores(tmp_path, postgres_database):
    """The guide's nightly pg_dump of a populated database, restored as the guide says into a
    fresh one: the same rows in every table, and the bot goes on with it (its sequences too)."""
    from sqlalchemy.engine import make_url

    from tests.conftest import NO_POSTGRES, run_async

    if postgres_database is None:
        pytest.skip(NO_POSTGRES)
    base = make_url(postgres_database)
    source, target = (base.set(database=f"{base.database}_{name}") for name in ("live", "restored"))
    run_async(_recreate(source))
    run_async(_recreate(target))
    try:
        run_async(_populate(source))
        dump = tmp_path / "tangqiao.dump"
        cron = block("sh", "0 3 * * * postgres pg_dump").split("postgres ", 1)[1]
        dump_options = cron.split("pg_dump ", 1)[1].split(" tangqiao >", 1)[0].split()  # -Fc
        subprocess.run(["pg_dump", *dump_options, "-f", str(dump), "--dbname", _libpq(source)], check=True)
        restore = block("sh", "systemctl stop tangqiao-bot")
        line = next(x for x in restore.splitlines() if "pg_restore" in x).split("pg_restore ", 1)[1].split()
        options = [o.replace("--role=tangqiao", f"--role={base.username}") for o in line[:-1] if o not in ("-d", "tangqiao")]
        assert "--no-owner" in options and line[-1].endswith(".dump")
        subprocess.run(["pg_restore", *options, "--dbname", _libpq(target), str(dump)], check=True)
        assert run_async(_rows(target)) == run_async(_rows(source))
        assert run_async(_go_on(target)) == "TQ-2612-0002"  # the restored counter, after the dumped ticket
    finally:
        for url in (source, target):
            run_async(_recreate(url, drop_only=True))


def _libpq(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _recreate(url, drop_only: bool = False) -> None:
    from tests.conftest import recreate_database

    await recreate_database(url.render_as_string(hide_password=False), drop_only=drop_only)


async def _populate(url) -> None:
    """A resident's report, its card in the outbox, an opinion: what the bot writes, as it writes it."""
    from db import outbox, tickets
    from db.models import Opinion
    from db.store import Store

    store = await Store.open(url.render_as_string(hide_password=False))  # migrated, as at the bot's start
    try:
        resident = await store.resident("telegram", "7001")
        now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
        async with store.transaction() as session:
            ticket = await tickets.create(session, source_key="backup:1", resident_id=resident.id, channel="telegram",
                                          chat_id="7001", category="facilities", text="楼道灯坏了,晚上很黑",
                                          place="峨山路91弄", response_due=now, resolution_due=now, created_at=now)
            outbox.enqueue(session, "telegram", "-100", "card", f"{ticket.number} 楼道灯坏了", ticket_id=ticket.id)
            session.add(Opinion(resident_id=resident.id, channel="telegram", text="建议多装路灯"))
    finally:
        await store.close()


async def _rows(url) -> dict[str, list[tuple]]:
    """Every table's rows, in order (the migrations' version included)."""
    from sqlmodel import SQLModel

    from tests.conftest import _pg_connect

    conn = await _pg_connect(url.render_as_string(hide_password=False))
    try:
        tables = [t.name for t in SQLModel.metadata.sorted_tables] + ["alembic_version"]
        found = {name: [tuple(r) for r in await conn.fetch(f'SELECT * FROM "{name}" ORDER BY 1')] for name in tables}
    finally:
        await conn.close()
    assert found["ticket"] and found["outboxmessage"] and found["opinion"]  # populated, or this proves nothing
    return found


async def _go_on(url) -> str:
    """The bot opens the restored database and numbers a new ticket."""
    from db import tickets
    from db.store import Store

    store = await Store.open(url.render_as_string(hide_password=False))
    try:
        resident = await store.resident("telegram", "7002")
        async with store.transaction() as session:
            now = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
            ticket = await tickets.create(session, source_key="backup:2", resident_id=resident.id, channel="telegram",
                                          chat_id="7002", category="facilities", text="电梯坏了", place="塘桥路100号",
                                          response_due=now, resolution_due=now, created_at=now)
            return ticket.number
    finally:
        await store.close()


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
