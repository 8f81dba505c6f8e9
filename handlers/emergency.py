"""Emergencies first: what to do now and whom to call, before anything else the bot does.

The model says a message describes an emergency (content/model.py: the signs of
content/emergency.yaml, or its own learned judgement); the kinds of danger it names pick the
advice (a fall: 120; gas: leave, then 119 from outside; a scam call: hang up, 96110), and a
message naming none gets the general advice. Every alert is recorded (db/alerts.py), whatever
the channels, for the staff console's banner, and logged; with a moderation chat it also gets
an alert card, not a ticket, queued in the outbox like every message to staff.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from content.emergency import Kind
from handlers.masking import mask_text
from handlers.services import Services
from handlers.types import Outbound, Reply

MAX_ADVICE = 2
_NUMBER = re.compile(r"<b>[^<\d]*(\d{3,6})")  # the numbers the advice names, in bold
log = logging.getLogger(__name__)


async def reply(text: str, dangers: tuple[Kind, ...], channel: str, lang: str, services: Services) -> Reply:
    advice = [kind for kind in dangers if kind.name != "general"][:MAX_ADVICE]
    lines = [kind.advice[lang] for kind in advice] or [services.model.signs.general.advice[lang]]
    alerted = await _alert_staff(text, advice, lines, channel, services)
    body = services.texts.render("emergency", lang, advice=lines, specific=bool(advice), alerted=alerted)
    return Reply("emergency", [Outbound(body)], score=100)


AFTERWARDS = timedelta(minutes=30)  # a message this soon after the advice may still be about the danger


def remembered(dangers: tuple[Kind, ...]) -> str:
    """What the conversation record keeps of an emergency (its `topic`): the kinds of its advice."""
    return ("emergency:" + ",".join(k.name for k in dangers if k.name != "general"))[:64]


def recent(topic: str | None, at: datetime | None, now: datetime) -> str | None:
    """The kinds of an emergency the resident was advised on within AFTERWARDS, else None."""
    if topic is None or at is None or not topic.startswith("emergency:") or now - at > AFTERWARDS:
        return None
    return topic.partition(":")[2]


def again(kinds: str, lang: str, services: Services) -> Reply:
    """The advice once more, for what a frightened resident writes next ("已经打了120了,接下来怎么办",
    "社区有心理咨询吗" after despair): not a report form, and no second alert to staff."""
    signs = services.model.signs
    named = {k.name: k for k in signs.kinds}
    lines = [named[n].advice[lang] for n in kinds.split(",") if n in named][:MAX_ADVICE] or [signs.general.advice[lang]]
    return Reply("emergency", [Outbound(services.texts.render("emergency_after", lang, advice=lines))], score=100)


async def _alert_staff(text: str, advice: list[Kind], lines: list[str], channel: str, services: Services) -> bool:
    """Record the alert (and queue the moderation chat's card, if there is one) in one transaction."""
    rules, store = services.tickets, services.store
    if store is None:
        return False
    from db import alerts, outbox  # the database layer is not imported by `ask`
    from handlers import notify

    kinds = [k.name for k in advice] or ["general"]
    said = mask_text(text)
    async with store.transaction() as session:
        alert = alerts.record(session, channel, kinds, said)
        if rules.moderation_chat is not None:
            numbers = " / ".join(dict.fromkeys(_NUMBER.findall(" ".join(lines))))
            card = services.texts.render("staff_emergency", "zh", channel=channel, text=said[:500],
                                         kinds="、".join(kinds), numbers=numbers)
            outbox.enqueue(session, rules.moderation_channel, rules.moderation_chat, "alert", card)
        notify.to_office(session, services, "alert", kinds="、".join(kinds), channel=channel)
        await session.flush()
        log.warning("emergency alert %s recorded: %s via %s", alert.id, ",".join(kinds), channel)
    return True
