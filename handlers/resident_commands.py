"""What each resident's /command does (the table of them: handlers/commands.py). Each takes the
turn and the words after the command; the router has already ended a waiting state when the
command does not keep it, and answers help instead of a command that needs the resident's
record when there is none (`ask`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import browse, events, opinions
from handlers.dialogs import Turn
from handlers.lazy import lazy_module
from handlers.types import Outbound, Reply

if TYPE_CHECKING:
    from handlers import complaint, my_tickets, privacy
else:  # they bring SQLAlchemy (handlers/lazy.py): `ask` answers /start without them
    complaint, my_tickets, privacy = (lazy_module(f"handlers.{name}") for name in ("complaint", "my_tickets", "privacy"))


def _stored(turn: Turn) -> bool:
    return turn.services.store is not None and turn.resident is not None


def _say(turn: Turn, template: str, kind: str = "info") -> Reply:
    return Reply(kind, [Outbound(turn.services.texts.render(template, turn.lang))])


async def start(turn: Turn, argument: str) -> Reply:
    return browse.menu_reply(turn.lang, turn.services, welcome=True)


async def menu(turn: Turn, argument: str) -> Reply:
    return browse.menu_reply(turn.lang, turn.services, welcome=False)


async def help(turn: Turn, argument: str) -> Reply:  # noqa: A001 - the command's name
    return _say(turn, "help")


async def lang(turn: Turn, argument: str) -> Reply:
    """/lang en, /lang zh, or /lang alone: the other one."""
    choice = argument.lower()[:2] if argument else ("zh" if turn.lang == "en" else "en")
    if _stored(turn) and choice in browse.LANGUAGES:
        turn.talk.language = choice
    return await browse.set_language(choice, turn.resident, turn.services)


async def cancel(turn: Turn, argument: str) -> Reply:
    """Whatever was started is given up, a report's draft too."""
    if _stored(turn):
        turn.talk.leave()
        turn.talk.filled.pop("draft", None)
    return _say(turn, "cancelled", "cancel")


async def report(turn: Turn, argument: str) -> Reply:
    if _stored(turn):
        return complaint.start(turn, first_text=argument)
    # without a database (`ask`): what the resident would see first
    return Reply("complaint", [Outbound(turn.services.texts.render("intake_what", turn.lang))], score=100)


async def forget_me(turn: Turn, argument: str) -> Reply:
    return privacy.ask(turn.lang, turn.services)


async def list_my_tickets(turn: Turn, argument: str) -> Reply:
    return await my_tickets.list_tickets(turn.lang, turn.resident, turn.services)


async def whats_on(turn: Turn, argument: str) -> Reply:
    return await events.whats_on(turn.lang, turn.services)


async def subscribe(turn: Turn, argument: str) -> Reply:
    return await events.subscribe_menu(turn.lang, turn.resident, turn.services)


async def unsubscribe(turn: Turn, argument: str) -> Reply:
    return await events.unsubscribe_menu(turn.lang, turn.resident, turn.services)


async def opinion(turn: Turn, argument: str) -> Reply:
    """/opinion alone asks for it (a report in progress waits); with words, they are the suggestion."""
    if not argument:
        return opinions.ask(turn) if _stored(turn) else _say(turn, "leave_prompt")
    if _stored(turn):
        await opinions.save(turn, argument)
    return _say(turn, "opinion", "opinion")
