"""Settings from environment variables and an optional `.env` file.

Every setting is listed in the README with its default. A malformed value raises
`SettingsError` whose message is one line naming the variable; `python -m bot` prints it
and exits with status 2 instead of a traceback.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
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
    moderation_chat_id: int | None = None
    staff_ids: frozenset[int] = frozenset()
    tickets_per_day: int = 5
    response_days: int = 1
    resolution_days: int = 5
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()


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

    chat = get("MODERATION_CHAT_ID")
    return Settings(
        telegram_bot_token=token,
        telegram_base_url=base_url,
        database_url=normalise_database_url(get("DATABASE_URL") or DEFAULT_DATABASE_URL),
        bot_language=language,
        moderation_chat_id=_integer("MODERATION_CHAT_ID", chat) if chat else None,
        staff_ids=frozenset(_integer("STAFF_IDS", v) for v in _items(get("STAFF_IDS"))),
        tickets_per_day=_integer("TICKETS_PER_DAY", get("TICKETS_PER_DAY") or "5", minimum=1),
        response_days=_integer("RESPONSE_DAYS", get("RESPONSE_DAYS") or "1", minimum=1),
        resolution_days=_integer("RESOLUTION_DAYS", get("RESOLUTION_DAYS") or "5", minimum=1),
        holidays=frozenset(_date("HOLIDAYS", v) for v in _items(get("HOLIDAYS"))),
        extra_workdays=frozenset(_date("WORKDAYS", v) for v in _items(get("WORKDAYS"))),
    )


def _items(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _integer(name: str, value: str, minimum: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {number}")
    return number


def _date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SettingsError(f"{name} must list dates as YYYY-MM-DD separated by commas, got {value!r}") from None


def normalise_database_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async driver for them."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SettingsError(f"DATABASE_URL must look like sqlite:///var/tangqiao.db, got {url!r}")
    drivers = {"sqlite": "sqlite+aiosqlite", "sqlite+aiosqlite": "sqlite+aiosqlite"}
    if scheme not in drivers:
        raise SettingsError(f"DATABASE_URL scheme {scheme!r} is not supported; use sqlite:///path/to/file.db")
    return f"{drivers[scheme]}://{rest}"
