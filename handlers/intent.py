"""Sort a free-text message into ticket_status, greeting, opinion, complaint, or question.

The rules are data (content/intents.yaml); this module only applies them, in order of how
specific they are: asking about an earlier report names a problem too, so it goes first; a
suggestion often describes a problem, so it comes before complaint.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from content.loader import CONTENT_DIR

INTENTS_PATH = CONTENT_DIR / "intents.yaml"


def _any(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


@dataclass(frozen=True)
class IntentRules:
    status_strong: re.Pattern[str]
    status_reported: re.Pattern[str]
    status_progress: re.Pattern[str]
    greeting: re.Pattern[str]
    greeting_max: int
    opinion: re.Pattern[str]
    strong: list[re.Pattern[str]]
    problems: list[re.Pattern[str]]
    action: re.Pattern[str]
    question: re.Pattern[str]
    complaint_threshold: int

    @classmethod
    def load(cls, path: Path = INTENTS_PATH) -> IntentRules:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        status, greet, complaint = data["ticket_status"], data["greeting"], data["complaint"]
        return cls(
            status_strong=_any(status["strong"]),
            status_reported=re.compile(status["reported"]),
            status_progress=re.compile(status["progress"]),
            greeting=_any(greet["patterns"]),
            greeting_max=int(greet["max_chars"]),
            opinion=_any(data["opinion"]["patterns"]),
            strong=[re.compile(p) for p in complaint["strong"]],
            problems=[re.compile(p) for p in complaint["problems"]],
            action=_any(complaint["action"]),
            question=_any(complaint["question"]),
            complaint_threshold=int(complaint["threshold"]),
        )

    def classify(self, text: str) -> str:
        """`text` is normalised; returns a kind, or "question" for the topic matcher."""
        if self.status_strong.search(text) or (
            self.status_reported.search(text) and self.status_progress.search(text)
        ):
            return "ticket_status"
        if len(text) <= self.greeting_max and self.greeting.search(text):
            return "greeting"
        if self.opinion.search(text):
            return "opinion"
        if self.complaint_points(text) >= self.complaint_threshold:
            return "complaint"
        return "question"

    def complaint_points(self, text: str) -> int:
        """Strong words 2, every distinct problem word 1 ("堵满了…推不出去" is two signs), a request
        to act 1, a how-to question about a service -1."""
        points = 2 * len({m.group(0) for p in self.strong for m in p.finditer(text)})
        points += len({m.group(0) for p in self.problems for m in p.finditer(text)})
        points += 1 if self.action.search(text) else 0
        points -= 1 if self.question.search(text) else 0
        return points
