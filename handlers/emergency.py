"""Emergencies first: what to do now and whom to call, before anything else the bot does.

The model says a message describes an emergency (content/model.py: the signs of
content/emergency.yaml, or its own learned judgement); the kinds of danger it names pick the
advice (a fall: 120; gas: leave, then 119 from outside; a scam call: hang up, 96110), and a
message naming none gets the general advice. The moderation chat gets an alert, not a ticket,
so that a person can look; it is queued in the outbox like every message to staff.
"""
from __future__ import annotations

from content.emergency import NATIONAL_NUMBERS, Kind
from handlers.services import Services
from handlers.types import Outbound, Reply

MAX_ADVICE = 2


async def reply(text: str, dangers: tuple[Kind, ...], channel: str, lang: str, services: Services) -> Reply:
    advice = [kind for kind in dangers if kind.name != "general"][:MAX_ADVICE]
    alerted = await _alert_staff(text, advice, channel, services)
    lines = [kind.advice[lang] for kind in advice] or [services.model.signs.general.advice[lang]]
    body = services.texts.render("emergency", lang, advice=lines, specific=bool(advice), alerted=alerted)
    return Reply("emergency", [Outbound(body)], score=100)


async def _alert_staff(text: str, advice: list[Kind], channel: str, services: Services) -> bool:
    rules, store = services.tickets, services.store
    if store is None or rules.moderation_chat is None:
        return False
    from db import outbox  # the database layer is not imported by `ask`

    alert = services.texts.render("staff_emergency", "zh", channel=channel, text=text[:500],
                                  kinds="、".join(k.name for k in advice) or "general",
                                  numbers=" / ".join(NATIONAL_NUMBERS))
    async with store.transaction() as session:
        outbox.enqueue(session, rules.moderation_channel, rules.moderation_chat, "alert", alert)
    return True
