"""Signs of an emergency happening now, and what to advise: content/emergency.yaml.

The model (content/model.py) consults the signs before anything else; the router's emergency
reply (handlers/emergency.py) takes its advice from the kinds they name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from content.loader import CONTENT_DIR
from content.normalize import normalize

EMERGENCY_PATH = CONTENT_DIR / "emergency.yaml"
NATIONAL_NUMBERS = ("110", "119", "120", "96110")  # the only numbers the advice may name
GENERAL = "general"


def _any(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


@dataclass(frozen=True)
class Kind:
    name: str
    signs: re.Pattern[str]
    advice: dict[str, str]  # language -> the advice (HTML)
    despite_services: bool = False  # a scam names subsidies and refunds: the words prove nothing


class EmergencySigns:
    def __init__(self, path: Path = EMERGENCY_PATH):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        self.not_now = _any(data["not_now"])
        self.services = re.compile(data["services"])
        general = data[GENERAL]
        self.kinds = [Kind(name, _any(spec["signs"]), {"zh": spec["zh"], "en": spec["en"]},
                           bool(spec.get("scams_name_services")))
                      for name, spec in data["kinds"].items()]
        self.general = Kind(GENERAL, _any(general["signs"]), {"zh": general["zh"], "en": general["en"]})

    def kinds_in(self, text: str) -> list[Kind]:
        """The kinds of emergency `text` describes as happening now, the earliest named first;
        [general] for a bare call for help; [] for none (or for the past, prevention, a service)."""
        text = normalize(text)
        if self.not_now.search(text):
            return []
        service = self.services.search(text) is not None
        found = sorted((m.start(), kind.name, kind) for kind in self.kinds
                       if (m := kind.signs.search(text)) and (kind.despite_services or not service))
        if found:
            return [kind for _, _, kind in found]
        return [self.general] if self.general.signs.search(text) else []
