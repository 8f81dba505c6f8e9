"""What handlers need, built once by the composition root (bot/startup.py)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from content.loader import ContentBase
from content.model import Model
from content.terms import ReportTerms
from handlers.categories import Categories
from handlers.texts import Texts
from handlers.throttle import Throttle
from handlers.workdays import Calendar

if TYPE_CHECKING:  # the database layer is imported only by the running bot, not by `ask`
    from db.store import Store


class StaffDirectory(Protocol):
    """Who may use staff commands: members of the moderation chat and the listed staff ids."""

    async def is_staff(self, channel: str, user_id: str) -> bool: ...


@dataclass(frozen=True)
class TicketRules:
    moderation_channel: str = "telegram"
    moderation_chat: str | None = None  # where ticket cards go; None: nowhere yet
    per_day: int = 5  # tickets one resident may open in 24 hours
    response_days: int = 1  # working days to the first response
    resolution_days: int = 5  # working days to resolution
    calendar: Calendar = field(default_factory=Calendar)
    reopen_days: int = 7  # a low rating within this many days reopens the ticket


@dataclass
class Services:
    content: ContentBase
    model: Model  # what a message means (content/model.py)
    terms: ReportTerms  # what the report names, for an honest fallback
    texts: Texts
    store: Store | None  # None for `python -m bot ask`, which records nothing
    default_language: str = "zh"
    categories: Categories = field(default_factory=Categories)
    tickets: TicketRules = field(default_factory=TicketRules)
    staff: StaffDirectory | None = None
    throttle: Throttle = field(default_factory=Throttle)
    exporter: Callable[[date, date], Awaitable[Any]] | None = None  # the export of any days (bot/export/run.py)
