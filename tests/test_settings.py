"""Settings: defaults, .env, and one clear line for a bad value."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.settings import DEFAULT_DATABASE_URL, SettingsError, load_settings
from tests.bot_harness import free_port
from tests.conftest import NO_POSTGRES, POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent


def test_defaults():
    s = load_settings({})
    assert (s.telegram_bot_token, s.database_url, s.bot_language) == (None, DEFAULT_DATABASE_URL, "zh")


def test_dotenv_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("BOT_LANGUAGE=en\nDATABASE_URL=sqlite:///x.db\n", encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///y.db")
    s = load_settings(dotenv_path=env_file)
    assert s.bot_language == "en" and s.database_url == "sqlite+aiosqlite:///y.db"


@pytest.mark.parametrize("env, name", [
    ({"BOT_LANGUAGE": "fr"}, "BOT_LANGUAGE"),
    ({"TELEGRAM_BOT_TOKEN": "nonsense"}, "TELEGRAM_BOT_TOKEN"),
    ({"TELEGRAM_BASE_URL": "ftp://x"}, "TELEGRAM_BASE_URL"),
    ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ({"DATABASE_URL": "just-a-file.db"}, "DATABASE_URL"),
])
def test_bad_values_name_the_setting(env, name):
    with pytest.raises(SettingsError, match=name):
        load_settings(env)


def test_bad_setting_is_one_line_not_a_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bot", "chat"], cwd=tmp_path, capture_output=True, text=True,
                         env={"BOT_LANGUAGE": "fr", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: BOT_LANGUAGE must be one of zh, en, got 'fr'"]


def _start(tmp_path: Path, database_url: str | None) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **({"DATABASE_URL": database_url} if database_url else {})}
    return subprocess.run([sys.executable, "-m", "bot", "chat"], cwd=tmp_path, capture_output=True, text=True, env=env,
                          input="", timeout=60)


@pytest.mark.parametrize("url, problem", [
    ("sqlite:///", "DATABASE_URL must name the SQLite file"),
    ("sqlite:///missing/folder/bot.db", "DATABASE_URL: the folder 'missing/folder' of the SQLite file does not exist"),
    ("postgresql://tangqiao:s3cret-pw@127.0.0.1:{port}/tangqiao", "DATABASE_URL: cannot open postgresql+asyncpg://"
                                                                   "tangqiao:***@127.0.0.1:{port}/tangqiao: "),
])
def test_a_database_that_cannot_be_opened_is_one_line_naming_the_setting(tmp_path, url, problem):
    port = free_port()
    out = _start(tmp_path, url.format(port=port))
    assert out.returncode == 2, out.stderr
    [line] = out.stderr.strip().splitlines()
    assert line.startswith(f"error: {problem.format(port=port)}") and "s3cret" not in line
    assert not (tmp_path / "missing").exists()  # no folder made for a mistyped path


def test_the_default_folder_is_made(tmp_path):
    out = _start(tmp_path, None)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "var" / "tangqiao.db").exists()


def test_secrets_are_not_in_the_settings_repr_nor_printed(tmp_path):
    settings = load_settings({"TELEGRAM_BOT_TOKEN": "123456:AAH-secret-token", "WEBHOOK_URL": "https://bot.example.org/telegram",
                              "WEBHOOK_SECRET": "hook-secret", "DATABASE_URL": "postgresql://bot:db-secret@db.example.org/tq"})
    shown = repr(settings)
    assert "secret" not in shown and "bot:***@db.example.org/tq" in shown
    assert settings.database_shown == "postgresql+asyncpg://bot:***@db.example.org/tq"


@pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
def test_the_console_prints_the_database_without_its_password(tmp_path, postgres_database):
    url = make_url(postgres_database).set(password="pw-in-the-url")  # the test cluster trusts local users
    out = _start(tmp_path, url.render_as_string(hide_password=False))
    assert out.returncode == 0, out.stderr
    assert "pw-in-the-url" not in out.stdout + out.stderr and f"{url.username}:***@" in out.stdout


@pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
def test_a_database_the_server_does_not_have_is_one_line(tmp_path, postgres_database):
    url = make_url(postgres_database).set(database="no_such_database")
    out = _start(tmp_path, url.render_as_string(hide_password=False))
    assert out.returncode == 2, out.stderr
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("error: DATABASE_URL: cannot open ") and "no_such_database" in line
