"""Signs of an emergency happening now, and what to advise: content/emergency.yaml.

The model (content/model.py) consults the signs before anything else; the router's emergency
reply (handlers/emergency.py) takes its advice from the kinds they name.

"Now" is read from the whole message: a danger named with the past (上次, 前几天, 上趟), a
habit (经常) or a hypothetical before it (如果…会不会), or inside a prevention question, is not
happening now, unless a word says it is (又在, 还在, 现在, 越来越); a past event asked about for
another reason (who maintains the lift, is there an AED) is not, whatever it says. A conditional
threat ("再没人来我就跳下去") is no hypothetical. A message that the tense (or a resident
declining a call, "不留了") puts out of the present is marked CALM: the model may not raise the
alarm on it alone either.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from content.loader import CONTENT_DIR
from content.normalize import normalize

EMERGENCY_PATH = CONTENT_DIR / "emergency.yaml"
# the only numbers the advice may name: the emergency lines and the psychological-help lines
NATIONAL_NUMBERS = ("110", "119", "120", "96110", "12356", "962525")
GENERAL = "general"
_NEVER = re.compile(r"(?!x)x")
_SENTENCE_END = re.compile(r"[。！？!?.\n]")


def _any(patterns: list[str] | str | None) -> re.Pattern[str]:
    if not patterns:
        return _NEVER
    if isinstance(patterns, str):
        patterns = [patterns]
    return re.compile("|".join(f"(?:{p})" for p in patterns))


@dataclass(frozen=True)
class Kind:
    name: str
    signs: re.Pattern[str]
    advice: dict[str, str]  # language -> the advice (HTML)
    despite_services: bool = False  # a scam names subsidies and refunds: the words prove nothing
    any_tense: re.Pattern[str] = _NEVER  # signs no tense can put off ("再没人来我就跳下去")
    habit_is_now: bool = False  # "he often hits me": going on
    replaces: tuple[str, ...] = ()  # kinds whose advice this one's supersedes when both are found
    alarm: bool = True  # False only for CALM


# not an emergency, and the model may not say it is one on its own
CALM = Kind("calm", _NEVER, {}, alarm=False)


class EmergencySigns:
    def __init__(self, path: Path = EMERGENCY_PATH):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        tense = data["tense"]
        self.now, self.past, self.over = _any(tense["now"]), _any(tense["past"]), _any(tense["over"])
        self.habit = _any(tense["habit"])
        self.asking, self.prevention = _any(tense["asking"]), _any(tense["prevention"])
        self.hypothetical = _any(tense["hypothetical"])
        self.services, self.calm = _any(data["services"]), _any(data["calm"])
        general = data[GENERAL]
        self.kinds = [Kind(name, _any(spec["signs"]), {"zh": spec["zh"], "en": spec["en"]},
                           bool(spec.get("scams_name_services")), _any(spec.get("any_tense")),
                           bool(spec.get("habit_is_now")), tuple(spec.get("replaces") or ()))
                      for name, spec in data["kinds"].items()]
        self.general = Kind(GENERAL, _any(general["signs"]), {"zh": general["zh"], "en": general["en"]})

    def kinds_in(self, text: str) -> list[Kind]:
        """The kinds of emergency `text` describes as happening now, the earliest named first;
        [general] for a bare call for help; [CALM] when the words put any danger out of the
        present (the model may not raise the alarm either); [] when they say nothing of it."""
        text = normalize(text)
        now = self.now.search(text) is not None
        past = self.past.search(text) is not None
        habit = self.habit.search(text) is not None
        service = self.services.search(text) is not None
        # over; the past asked about for another reason; the past or prevention without a word of now
        put_off = (self.over.search(text) is not None
                   or past and (self.asking.search(text) is not None or not now)
                   or (self.prevention.search(text) is not None and not now))
        found: list[tuple[int, Kind]] = []
        for kind in self.kinds:
            if m := kind.any_tense.search(text):
                found.append((m.start(), kind))
            elif (m := kind.signs.search(text)) and not put_off and (kind.despite_services or not service) \
                    and (now or kind.habit_is_now or not habit) and not self._hypothetical_before(text, m):
                found.append((m.start(), kind))
        replaced = {name for _, kind in found for name in kind.replaces}
        kinds = [kind for _, kind in sorted(found, key=lambda f: f[0]) if kind.name not in replaced]
        if kinds:
            return kinds
        if self.general.signs.search(text) and not put_off:
            return [self.general]
        quiet = put_off or ((habit or service or self.hypothetical.search(text) is not None) and not now)
        return [CALM] if quiet or self.calm.search(text) else []

    def _hypothetical_before(self, text: str, sign: re.Match[str]) -> bool:
        """A hypothetical in the danger's sentence, starting before it: 如果煤气泄漏会不会爆炸,
        真着起火来跑不出去."""
        starts = [m.end() for m in _SENTENCE_END.finditer(text, 0, sign.start())]
        end = _SENTENCE_END.search(text, sign.end())
        return any(m.start() < sign.start() for m in
                   self.hypothetical.finditer(text, starts[-1] if starts else 0, end.start() if end else len(text)))
