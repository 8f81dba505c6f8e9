"""Emergencies first: what to do now and whom to call, before anything else the bot does.

The model (content/model.py) decides that a message describes an emergency; content/emergency.yaml
says what to advise, and its cue words pick which advice leads (a fall: 120; gas: leave, then
119 from outside; a scam call: hang up, 96110). The moderation chat gets an alert, not a ticket,
so that a person can look; the alert is queued in the outbox like every message to staff.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from content.loader import CONTENT_DIR
from content.normalize import normalize
from handlers.services import Services
from handlers.types import Outbound, Reply

EMERGENCY_PATH = CONTENT_DIR / "emergency.yaml"
NATIONAL_NUMBERS = ("110", "119", "120", "96110")  # the only numbers the advice may name
MAX_ADVICE = 2


@dataclass(frozen=True)
class Advice:
    kind: str
    cues: tuple[str, ...]
    text: dict[str, str]


class EmergencyGuide:
    def __init__(self, path: Path = EMERGENCY_PATH):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.kinds = [Advice(kind, tuple(normalize(c) for c in spec["cues"]), {"zh": spec["zh"], "en": spec["en"]})
                      for kind, spec in data["kinds"].items()]
        self.general = data["general"]

    def advice_for(self, text: str) -> list[Advice]:
        """The kinds whose cue words the message uses, the earliest named first (at most two)."""
        text = normalize(text)
        found = []
        for advice in self.kinds:
            positions = [p for p in (text.find(c) for c in advice.cues) if p >= 0]
            if positions:
                found.append((min(positions), advice))
        return [advice for _, advice in sorted(found, key=lambda f: f[0])[:MAX_ADVICE]]


async def reply(text: str, channel: str, lang: str, services: Services) -> Reply:
    guide = services.emergencies
    advice = guide.advice_for(text)
    alerted = await _alert_staff(text, channel, advice, services)
    lines = [a.text[lang] for a in advice] or [guide.general[lang]]
    text = services.texts.render("emergency", lang, advice=lines, specific=bool(advice), alerted=alerted)
    return Reply("emergency", [Outbound(text)], score=100)


async def _alert_staff(text: str, channel: str, advice: list[Advice], services: Services) -> bool:
    rules, store = services.tickets, services.store
    if store is None or rules.moderation_chat is None:
        return False
    from db import outbox  # the database layer is not imported by `ask`

    alert = services.texts.render("staff_emergency", "zh", channel=channel, text=text[:500],
                                  kinds="、".join(a.kind for a in advice) or "general",
                                  numbers=" / ".join(NATIONAL_NUMBERS))
    async with store.transaction() as session:
        outbox.enqueue(session, rules.moderation_channel, rules.moderation_chat, "alert", alert)
    return True
