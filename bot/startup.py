"""Build the services every handler uses, once, at start-up."""
from __future__ import annotations

import gc
import logging
import os
from dataclasses import replace
from datetime import date, datetime, timedelta

from bot.channels.traits import CHANNELS
from bot.settings import Settings
from content.live_model import LiveModel
from content.loader import REPORT_PATH, load_content
from content.model_cache import content_hash, load_model
from content.terms import ReportTerms
from db.clock import SHANGHAI, Clock, install
from handlers.rules.workdays import Calendar, official_calendar_ends
from handlers.services import Exporter, Services, StaffDirectory, TicketRules
from handlers.texts import Texts

log = logging.getLogger(__name__)


def build_core(default_language: str = "zh", cache_dir: str | None = None) -> Services:
    """Content, the model and templates, without a database (used by `ask` and benchmarks).
    `cache_dir`: TANGQIAO_CACHE_DIR of the settings (.env included), else the environment's."""
    if cache_dir:  # the settings' (.env included), for every reader of the cache: a retrain's child process too
        os.environ["TANGQIAO_CACHE_DIR"] = cache_dir
    content = load_content()
    return Services(
        content=content,
        model=load_model(content),
        terms=ReportTerms(REPORT_PATH.read_text(encoding="utf-8"), content),
        texts=Texts(),
        store=None,
        channels=CHANNELS,
        default_language=default_language,
    )


async def build_services(settings: Settings, *, exporter: Exporter | None = None,
                         staff: StaffDirectory | None = None) -> Services:
    """Everything handlers use, with the database. `exporter`: how /export and the weekly job
    make the export (bot/jobs.py's export_in_child for the bot; none in the export's own child
    process). `staff`: who counts as staff (the Telegram channel's TelegramStaff asks the
    moderation chat); by default the ids in STAFF_IDS."""
    from db.events import EventBoard
    from db.store import Store  # SQLAlchemy costs 0.3 s of import; `ask` and benchmarks skip it

    store = await Store.open(settings.database_url)
    store.bots = bot_identities(settings)
    core = build_core(settings.bot_language, settings.cache_dir)
    clock = Clock()
    install(clock)  # the process's one clock: db.clock.utcnow (rows' creation stamps, today) reads services.clock
    return replace(
        core,
        store=store,
        clock=clock,
        model=LiveModel(core.model, content_hash()),  # swapped for staff's retrained versions (bot/retrain.py)
        tickets=TicketRules(
            moderation_chat=str(settings.moderation_chat_id) if settings.moderation_chat_id is not None else None,
            per_day=settings.tickets_per_day,
            response_days=settings.response_days,
            resolution_days=settings.resolution_days,
            calendar=working_calendar(settings),
            chat_cards=settings.chat_cards,
            console_url=settings.console_url,
            office_robot=settings.wecom_robot_url is not None,
            staff_direct="telegram" if settings.telegram_bot_token else None,
        ),
        staff=staff or ListedStaff(settings.staff_ids),
        exporter=exporter,
        events=EventBoard(store.engine),
    )


def bot_identities(settings: Settings) -> dict[str, str]:
    """Which bot receives each channel's updates: Telegram's bot id (the token's public part),
    the WeChat Official Account's AppID."""
    token = settings.telegram_bot_token
    return {"telegram": token.partition(":")[0] if token else "", "wechat": settings.wechat_app_id or ""}


def working_calendar(settings: Settings, today: date | None = None) -> Calendar:
    """The official calendar with the settings' overrides; a warning when it ends before next
    month (time limits would then count Monday to Friday, public holidays included)."""
    today = today or datetime.now(SHANGHAI).date()
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    ends = official_calendar_ends()
    if ends < next_month and not any(d >= next_month for d in settings.holidays):
        log.warning("the official holiday calendar (chinesecalendar) ends on %s: upgrade it, or set HOLIDAYS and "
                    "WORKDAYS for %s, or time limits will count public holidays as working days", ends, next_month.year)
    return Calendar(settings.holidays, settings.extra_workdays, settings.office_hours)


def settle_heap() -> None:
    """Call once the bot is built. What start-up made (content, matcher and pinyin tables, the
    libraries) lives until the end, so the garbage collector is told to stop looking at it:
    otherwise each full collection walks it again (~90 ms), and under load that cost half the
    throughput (bench e2e: 80 vs 162 questions/s with the database taken out)."""
    gc.collect()
    gc.freeze()


class ListedStaff:
    """Staff are the ids in STAFF_IDS; the Telegram channel adds the moderation chat's members."""

    def __init__(self, ids: frozenset[int]):
        self.ids = {str(i) for i in ids}

    async def is_staff(self, channel: str, user_id: str) -> bool:
        return channel in ("telegram", "console") and user_id in self.ids


async def close_services(services: Services) -> None:
    if services.store is not None:
        await services.store.close()
