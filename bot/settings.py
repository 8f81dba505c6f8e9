"""Settings from environment variables and an optional `.env` file.

Every setting is listed in the README with its default. A malformed value raises
`SettingsError` whose message is one line naming the variable; `python -m bot` prints it
and exits with status 2 instead of a traceback.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from dotenv import dotenv_values

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/tangqiao.db"
LANGUAGES = ("zh", "en")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it in one line."""


@dataclass(frozen=True)
class Settings:
    telegram_bot_token: str | None = None
    telegram_base_url: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    bot_language: str = "zh"


def load_settings(env: Mapping[str, str] | None = None, dotenv_path: str | Path = ".env") -> Settings:
    """Read the settings; `env` defaults to `.env` overlaid by the process environment."""
    if env is None:
        env = {**{k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}, **os.environ}

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    token = get("TELEGRAM_BOT_TOKEN")
    if token is not None and (":" not in token or not token.split(":", 1)[0].isdigit()):
        raise SettingsError("TELEGRAM_BOT_TOKEN looks malformed: expected '<digits>:<secret>' as BotFather gives it")

    base_url = get("TELEGRAM_BASE_URL")
    if base_url is not None and urlparse(base_url).scheme not in ("http", "https"):
        raise SettingsError(f"TELEGRAM_BASE_URL must be an http(s) URL such as http://127.0.0.1:8081/bot, got {base_url!r}")

    language = (get("BOT_LANGUAGE") or "zh").lower()
    if language not in LANGUAGES:
        raise SettingsError(f"BOT_LANGUAGE must be one of {', '.join(LANGUAGES)}, got {language!r}")

    return Settings(
        telegram_bot_token=token,
        telegram_base_url=base_url,
        database_url=normalise_database_url(get("DATABASE_URL") or DEFAULT_DATABASE_URL),
        bot_language=language,
    )


def normalise_database_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async driver for them."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SettingsError(f"DATABASE_URL must look like sqlite:///var/tangqiao.db, got {url!r}")
    drivers = {"sqlite": "sqlite+aiosqlite", "sqlite+aiosqlite": "sqlite+aiosqlite"}
    if scheme not in drivers:
        raise SettingsError(f"DATABASE_URL scheme {scheme!r} is not supported; use sqlite:///path/to/file.db")
    return f"{drivers[scheme]}://{rest}"
