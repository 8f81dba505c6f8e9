"""What handlers need, built once by the composition root (bot/services.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from content.loader import ContentBase
from content.matcher import Matcher
from handlers.intent import IntentRules
from handlers.texts import Texts

if TYPE_CHECKING:  # the database layer is imported only by the running bot, not by `ask`
    from db.store import Store


@dataclass
class Services:
    content: ContentBase
    matcher: Matcher
    intents: IntentRules
    texts: Texts
    store: Store | None  # None for `python -m bot ask`, which records nothing
    default_language: str = "zh"
