"""Build the services every handler uses, once, at start-up."""
from __future__ import annotations

from pathlib import Path

import yaml

from bot.settings import Settings
from content.loader import CONTENT_DIR, load_content
from content.matcher import Matcher
from handlers.intent import IntentRules
from handlers.services import Services
from handlers.texts import Texts

SCOPE_PATH = CONTENT_DIR / "scope.yaml"


def build_core(default_language: str = "zh", scope_path: Path = SCOPE_PATH) -> Services:
    """Content, matcher, rules and templates, without a database (used by `ask` and benchmarks)."""
    content = load_content()
    scope = yaml.safe_load(scope_path.read_text(encoding="utf-8"))
    return Services(
        content=content,
        matcher=Matcher(content, scope),
        intents=IntentRules.load(),
        texts=Texts(),
        store=None,
        default_language=default_language,
    )


async def build_services(settings: Settings) -> Services:
    from db.store import Store  # SQLAlchemy costs 0.3 s of import; `ask` and benchmarks skip it

    services = build_core(settings.bot_language)
    services.store = await Store.open(settings.database_url)
    return services


async def close_services(services: Services) -> None:
    if services.store is not None:
        await services.store.close()
