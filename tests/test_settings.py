"""Settings: defaults, .env, and one clear line for a bad value."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import DEFAULT_DATABASE_URL, SettingsError, load_settings

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
