"""Opinions: a suggestion understood as one, or a message left for the office.

"Leave a message" (the button under an answer that did not help, or /opinion alone) is the
"message" dialog of handlers/dialogs.py: the resident sees "please write your message", and their
next message is kept as an opinion (a question asked instead is answered, and the request repeated).
"""
from __future__ import annotations

from handlers.dialogs import Turn
from handlers.services import Services
from handlers.types import Outbound, Reply


def category(text: str, services: Services) -> str:
    """An opinion's category: the area of the content entry it is closest to."""
    return services.content.entries[services.model.ranked_topics(text)[0]].area


async def save(turn: Turn, text: str) -> None:
    await turn.services.store.add_opinion(turn.resident.id, text.strip(), turn.inbound.channel,
                                          category(text, turn.services))


def ask(turn: Turn) -> Reply:
    turn.talk.enter("message", "text")
    return Reply("info", ask_again(turn))


def ask_again(turn: Turn) -> list[Outbound]:
    return [Outbound(turn.services.texts.render("leave_prompt", turn.lang))]


async def on_message(turn: Turn) -> Reply | None:
    """The message asked for; None for a greeting or a photo alone (not a message to keep)."""
    u = turn.understanding
    if not turn.text or (u is not None and u.kind == "greeting"):
        return None
    await save(turn, turn.text)
    turn.talk.leave()
    return Reply("opinion", [Outbound(turn.services.texts.render("leave_saved", turn.lang))])
