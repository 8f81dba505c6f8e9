"""Settings from environment variables and an optional `.env` file.

Every setting is listed in the README with its default. A malformed value raises
`SettingsError` whose message is one line naming the variable; `python -m bot` prints it
and exits with status 2 instead of a traceback.
"""
from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, time
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from urllib.parse import urlparse, urlsplit

from dotenv import dotenv_values

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/tangqiao.db"
DEFAULT_FOLDER = Path("var")  # made at start-up if missing; any other folder of a SQLite file must exist
LANGUAGES = ("zh", "en")
DEFAULT_WECHAT_API_BASE = "https://api.weixin.qq.com"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it in one line."""


@dataclass(frozen=True)
class Settings:
    """The settings; repr() leaves the secrets out and shows DATABASE_URL without its password."""

    telegram_bot_token: str | None = field(default=None, repr=False)
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
    office_hours: tuple[time, time] = (time(9, 0), time(17, 0))  # Asia/Shanghai, working days
    export_day: int = 0  # Monday (datetime.weekday numbering)
    export_time: time = time(9, 0)  # Asia/Shanghai
    export_dir: str = "./var/exports"
    committees_file: str | None = None  # the neighbourhood committees' places (handlers/committees.py)
    photo_dir: str = "./var/photos"  # residents' photos fetched for the staff console (bot/photo_files.py)
    review_retention_days: int = 90  # messages kept for staff to review (handlers/review.py), then deleted
    model_poll_seconds: float = 30.0  # how often a process looks for a newer model version (bot/retrain.py)
    cache_dir: str | None = None  # the trained model's cache (content/model_cache.py); None: ~/.cache/tangqiao-bot
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()  # peers whose X-Forwarded-For / X-Real-IP count
    console_language: str = "zh"  # the staff console's language unless an account has its own
    console_url: str | None = None  # the console's address, for links in the moderation chat's cards
    chat_cards: str = "masked"  # "masked": cards without phone/ID numbers; "minimal": no resident text at all
    wecom_robot_url: str | None = field(default=None, repr=False)  # the office's WeCom group robot's webhook (its key is a secret)
    # -- the web server (python -m bot serve): Telegram webhook, WeChat callback, health --
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    wechat_token: str | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = field(default=None, repr=False)
    wechat_aes_key: str | None = field(default=None, repr=False)
    wechat_api_base: str = DEFAULT_WECHAT_API_BASE
    # a template message for residents who have not written for 48 hours (bot/channels/wechat_template.py)
    wechat_template_id: str | None = None
    wechat_template_fields: tuple[tuple[str, str], ...] = ()  # (the template's field, what goes in it)
    wechat_template_url: str | None = None  # https: where a tap on it leads (none: it stays in the chat)
    host: str = "127.0.0.1"
    port: int = 8080
    outbox_stuck_after: int = 900  # seconds: /healthz fails when a message has waited longer to be delivered

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        shown["database_url"] = self.database_shown
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    @property
    def database_shown(self) -> str:
        """DATABASE_URL as it may be printed or logged: the password hidden."""
        return hide_password(self.database_url)


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
        database_url=_database_url(get("DATABASE_URL")),
        bot_language=language,
        moderation_chat_id=_integer("MODERATION_CHAT_ID", chat) if chat else None,
        staff_ids=frozenset(_integer("STAFF_IDS", v) for v in _items(get("STAFF_IDS"))),
        tickets_per_day=_integer("TICKETS_PER_DAY", get("TICKETS_PER_DAY") or "5", minimum=1),
        response_days=_integer("RESPONSE_DAYS", get("RESPONSE_DAYS") or "1", minimum=1),
        resolution_days=_integer("RESOLUTION_DAYS", get("RESOLUTION_DAYS") or "5", minimum=1),
        holidays=frozenset(_date("HOLIDAYS", v) for v in _items(get("HOLIDAYS"))),
        extra_workdays=frozenset(_date("WORKDAYS", v) for v in _items(get("WORKDAYS"))),
        office_hours=_office_hours(get("OFFICE_HOURS") or "09:00-17:00"),
        export_day=_weekday(get("EXPORT_DAY") or "mon"),
        export_time=_clock(get("EXPORT_TIME") or "09:00"),
        export_dir=get("EXPORT_DIR") or "./var/exports",
        committees_file=get("COMMITTEES_FILE") or None,
        photo_dir=get("PHOTO_DIR") or "./var/photos",
        review_retention_days=_integer("REVIEW_RETENTION_DAYS", get("REVIEW_RETENTION_DAYS") or "90", minimum=1),
        model_poll_seconds=float(_integer("MODEL_POLL_SECONDS", get("MODEL_POLL_SECONDS") or "30", minimum=1)),
        cache_dir=get("TANGQIAO_CACHE_DIR"),
        **_console_settings(get),
        **_server_settings(get),
    )


def _console_settings(get) -> dict:
    try:
        proxies = tuple(ip_network(v, strict=False) for v in _items(get("TRUSTED_PROXIES")))
    except ValueError:
        raise SettingsError(f"TRUSTED_PROXIES must be IP addresses or networks (127.0.0.1, 10.0.0.0/8), "
                            f"got {get('TRUSTED_PROXIES')!r}") from None
    language = (get("CONSOLE_LANGUAGE") or "zh").lower()
    if language not in LANGUAGES:
        raise SettingsError(f"CONSOLE_LANGUAGE must be one of {', '.join(LANGUAGES)}, got {language!r}")
    cards = (get("CHAT_CARDS") or "masked").lower()
    if cards not in ("masked", "minimal"):
        raise SettingsError(f"CHAT_CARDS must be masked or minimal, got {cards!r}")
    url = (get("CONSOLE_URL") or "").rstrip("/") or None
    if url is not None and urlparse(url).scheme not in ("http", "https"):
        raise SettingsError(f"CONSOLE_URL must be an http(s) URL such as https://bot.example.cn/staff, got {url!r}")
    robot = (get("WECOM_ROBOT_URL") or "").strip() or None
    if robot is not None and urlparse(robot).scheme not in ("http", "https"):
        raise SettingsError("WECOM_ROBOT_URL must be the group robot's webhook address, "
                            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...")
    return dict(trusted_proxies=proxies, console_language=language, console_url=url, chat_cards=cards, wecom_robot_url=robot)


def _office_hours(value: str) -> tuple[time, time]:
    opens, _, closes = value.partition("-")
    hours = (_clock(opens.strip(), "OFFICE_HOURS"), _clock(closes.strip(), "OFFICE_HOURS")) if closes else None
    if hours is None or hours[0] >= hours[1]:
        raise SettingsError(f"OFFICE_HOURS must be HH:MM-HH:MM with the opening first, e.g. 09:00-17:00, got {value!r}")
    return hours


# -- the web server: Telegram webhook, WeChat Official Account callback, health ----------------

_WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as secret_token
_WECHAT_TOKEN_RE = re.compile(r"^[A-Za-z0-9]{3,32}$")  # what the Official Account console accepts
_WECHAT_APP_ID_RE = re.compile(r"^wx[0-9A-Za-z]{6,30}$")
_WECHAT_AES_KEY_RE = re.compile(r"^[A-Za-z0-9+/]{43}$")


def _server_settings(get) -> dict:
    """WEBHOOK_*, WECHAT_*, HOST and PORT, checked; one line naming the setting when malformed."""
    webhook_url, webhook_secret = get("WEBHOOK_URL"), get("WEBHOOK_SECRET")
    if webhook_url is not None:
        parsed = urlparse(webhook_url)
        loopback = parsed.hostname in ("127.0.0.1", "localhost", "::1")
        if not parsed.hostname or not (parsed.scheme == "https" or (parsed.scheme == "http" and loopback)):
            raise SettingsError(f"WEBHOOK_URL must be the public https URL of /telegram, e.g. https://bot.example.org/telegram, "
                                f"got {webhook_url!r}")
        if webhook_secret is None:
            raise SettingsError("WEBHOOK_SECRET must be set when WEBHOOK_URL is: Telegram sends it with every update")
    if webhook_secret is not None and not _WEBHOOK_SECRET_RE.match(webhook_secret):
        raise SettingsError("WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")

    token, app_id, app_secret, aes_key = (get(f"WECHAT_{n}") for n in ("TOKEN", "APP_ID", "APP_SECRET", "AES_KEY"))
    if token is not None and not _WECHAT_TOKEN_RE.match(token):
        raise SettingsError("WECHAT_TOKEN must be 3-32 letters or digits, as set in the Official Account console")
    if app_id is not None and not _WECHAT_APP_ID_RE.match(app_id):
        raise SettingsError(f"WECHAT_APP_ID must be the AppID that starts with 'wx', got {app_id!r}")
    if aes_key is not None:
        if not _WECHAT_AES_KEY_RE.match(aes_key):
            raise SettingsError(f"WECHAT_AES_KEY must be the 43-character EncodingAESKey (letters and digits), "
                                f"got {len(aes_key)} characters")
        try:
            base64.b64decode(aes_key + "=", validate=True)
        except ValueError:
            raise SettingsError("WECHAT_AES_KEY is not a valid EncodingAESKey (it must decode as base64)") from None
        if token is None or app_id is None:
            raise SettingsError("WECHAT_AES_KEY (safe mode) needs WECHAT_TOKEN and WECHAT_APP_ID too")
    if app_secret is not None and app_id is None:
        raise SettingsError("WECHAT_APP_SECRET needs WECHAT_APP_ID too")
    if (app_id is not None or aes_key is not None) and token is None:
        raise SettingsError("WECHAT_TOKEN must be set to receive WeChat messages (WECHAT_APP_ID is set)")

    template_id, template_fields, template_url = _template_settings(get)
    if template_id is not None and app_secret is None:
        raise SettingsError("WECHAT_TEMPLATE_ID needs WECHAT_APP_ID and WECHAT_APP_SECRET (template messages go through the API)")

    api_base = (get("WECHAT_API_BASE") or DEFAULT_WECHAT_API_BASE).rstrip("/")
    if urlparse(api_base).scheme not in ("http", "https") or not urlparse(api_base).hostname:
        raise SettingsError(f"WECHAT_API_BASE must be an http(s) URL such as {DEFAULT_WECHAT_API_BASE}, got {api_base!r}")

    port = _integer("PORT", get("PORT") or "8080", minimum=0)
    if port > 65535:
        raise SettingsError(f"PORT must be at most 65535, got {port}")
    return dict(
        webhook_url=webhook_url, webhook_secret=webhook_secret, wechat_token=token, wechat_app_id=app_id,
        wechat_app_secret=app_secret, wechat_aes_key=aes_key, wechat_api_base=api_base,
        wechat_template_id=template_id, wechat_template_fields=template_fields, wechat_template_url=template_url,
        host=get("HOST") or "127.0.0.1", port=port,
        outbox_stuck_after=_integer("OUTBOX_STUCK_AFTER", get("OUTBOX_STUCK_AFTER") or "900", minimum=60),
    )


TEMPLATE_VALUES = ("title", "number", "status", "summary", "time", "hint")  # what a template field may carry
_TEMPLATE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{10,64}$")
_TEMPLATE_FIELD_RE = re.compile(r"^[a-z_]{1,32}[0-9]{0,3}$")


def _template_settings(get) -> tuple[str | None, tuple[tuple[str, str], ...], str | None]:
    """WECHAT_TEMPLATE_ID, WECHAT_TEMPLATE_FIELDS (field=value,...) and WECHAT_TEMPLATE_URL, checked."""
    template_id, fields, url = get("WECHAT_TEMPLATE_ID"), get("WECHAT_TEMPLATE_FIELDS"), get("WECHAT_TEMPLATE_URL")
    if template_id is None:
        if fields is not None or url is not None:
            raise SettingsError("WECHAT_TEMPLATE_FIELDS / WECHAT_TEMPLATE_URL need WECHAT_TEMPLATE_ID")
        return None, (), None
    if not _TEMPLATE_ID_RE.match(template_id):
        raise SettingsError(f"WECHAT_TEMPLATE_ID must be the template's id from the Official Account console, got {template_id!r}")
    pairs = []
    for item in _items(fields):
        name, _, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not _TEMPLATE_FIELD_RE.match(name) or value not in TEMPLATE_VALUES:
            raise SettingsError(f"WECHAT_TEMPLATE_FIELDS must be field=value pairs such as thing1=summary, the values "
                                f"among {', '.join(TEMPLATE_VALUES)}; got {item!r}")
        pairs.append((name, value))
    if not pairs:
        raise SettingsError("WECHAT_TEMPLATE_FIELDS must map the template's fields, e.g. "
                            "character_string1=number,thing2=summary,time3=time")
    if url is not None and (urlparse(url).scheme != "https" or not urlparse(url).hostname):
        raise SettingsError(f"WECHAT_TEMPLATE_URL must be an https URL, got {url!r}")
    return template_id, tuple(pairs), url


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekday(value: str) -> int:
    if value.lower()[:3] not in WEEKDAYS:
        raise SettingsError(f"EXPORT_DAY must be a day of the week (mon ... sun), got {value!r}")
    return WEEKDAYS.index(value.lower()[:3])


def _clock(value: str, name: str = "EXPORT_TIME") -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise SettingsError(f"{name} must be a time such as 09:00, got {value!r}") from None


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


def _database_url(value: str | None) -> str:
    """DATABASE_URL, normalised; a SQLite file must be named, in a folder that exists (only
    ./var/ is made: a typo must not leave a database somewhere unexpected)."""
    url = normalise_database_url(value or DEFAULT_DATABASE_URL)
    scheme, _, rest = url.partition("://")
    if scheme.startswith("sqlite") and url != DEFAULT_DATABASE_URL:
        path = rest[1:].partition("?")[0] if rest.startswith("/") else None
        if not path:
            raise SettingsError(f"DATABASE_URL must name the SQLite file, e.g. sqlite:///var/tangqiao.db, got {value!r}")
        folder = Path(path).parent
        if path != ":memory:" and not folder.is_dir() and folder.resolve() != DEFAULT_FOLDER.resolve():
            raise SettingsError(f"DATABASE_URL: the folder {str(Path(path).parent)!r} of the SQLite file does not exist")
    return url


def hide_password(url: str) -> str:
    """The URL with its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:***@" if parts.username is not None else ":***@"
    return parts._replace(netloc=user + parts.netloc.rpartition("@")[2]).geturl()


def normalise_database_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async driver for them
    (aiosqlite, asyncpg)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SettingsError(f"DATABASE_URL must look like sqlite:///var/tangqiao.db or postgresql://user@host/db, got {url!r}")
    drivers = {"sqlite": "sqlite+aiosqlite", "sqlite+aiosqlite": "sqlite+aiosqlite",
               "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "postgresql+asyncpg": "postgresql+asyncpg"}
    if scheme not in drivers:
        raise SettingsError(f"DATABASE_URL scheme {scheme!r} is not supported; "
                            "use sqlite:///path/to/file.db or postgresql://user:password@host:5432/database")
    return f"{drivers[scheme]}://{rest}"
