"""What handlers need, built once by the composition root (bot/startup.py)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from content.loader import ContentBase
from content.model import Model
from content.terms import ReportTerms
from db.clock import Clock
from handlers.categories import Categories
from handlers.rules.workdays import Calendar
from handlers.texts import Texts
from handlers.throttle import Throttle
from handlers.types import ChannelTraits

if TYPE_CHECKING:  # the database layer is imported only by the running bot, not by `ask`
    from db.events import EventBoard
    from db.store import Store


class StaffDirectory(Protocol):
    """Who may use staff commands: members of the moderation chat and the listed staff ids."""

    async def is_staff(self, channel: str, user_id: str) -> bool: ...


# Makes the export of a week (first day, last day): bot/export.py's, run in a child process.
Exporter = Callable[[date, date], Awaitable[Any]]


@dataclass(frozen=True)
class TicketRules:
    moderation_channel: str = "telegram"
    moderation_chat: str | None = None  # where ticket cards go; None: nowhere yet
    per_day: int = 5  # tickets one resident may open in 24 hours
    response_days: int = 1  # working days to the first response
    resolution_days: int = 5  # working days to resolution
    calendar: Calendar = field(default_factory=Calendar)
    reopen_days: int = 7  # a low rating within this many days reopens the ticket
    # the moderation chat is on Telegram, outside China (PIPL): its messages never carry a phone or
    # ID number; "minimal": no resident text at all, only number, category, area and a console link
    chat_cards: str = "masked"
    console_url: str | None = None  # CONSOLE_URL, for that link
    office_robot: bool = False  # WECOM_ROBOT_URL is set: new tickets, emergencies, chases and assignments go to that group
    staff_direct: str | None = None  # the channel on which a member's linked account is told privately (telegram); None: none

    def is_moderation_chat(self, channel: str, chat_id: str | None) -> bool:
        """The staff's chat: where ticket cards go and where every message is staff's business."""
        return self.moderation_chat is not None and channel == self.moderation_channel and chat_id == self.moderation_chat


@dataclass(frozen=True)
class Services:
    """Built once, completely, by the composition root (bot/startup.py); a variant is a
    dataclasses.replace."""

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
    channels: Mapping[str, ChannelTraits] = field(default_factory=dict)  # what each channel can do
    exporter: Exporter | None = None  # the export of any days (bot/export/run.py); None: no /export (`ask`, the export's own process)
    events: EventBoard | None = None  # the office's upcoming events (db/events.py); None: none known
    clock: Clock = field(default_factory=Clock)  # now, in UTC (tests move it: quiet hours, past dates)

    def can(self, channel: str) -> ChannelTraits:
        """What `channel` can do; an unknown channel, nothing special."""
        return self.channels.get(channel, _NOTHING)


_NOTHING = ChannelTraits()
