"""Learning from use (issue 25): what the bot may have misunderstood is kept for staff to review.

The router calls `keep(inbound, reply, services, talk, last)` at the end of each turn, in its
transaction; the last answer (for a 👎 or a rephrasing) is kept on the conversation record
(db/conversations.py), beside the topic follow-ups use. Kept, as a review item:
every fallback; every clarification (and the entry the resident then picked from it, if any);
every 👎 on an answer (the question it answered); every answer the resident rephrased within
REPHRASE_WINDOW (a new question like the first, or answered with the same entry again); every
emergency alert. Each with the bot's decision, its best scores and its reply, and with phone and
ID-card numbers erased before anything is written (handlers/masking.py). Items are deleted after
REVIEW_RETENTION_DAYS (bot/jobs.py), except those approved as examples.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from rapidfuzz import fuzz

from handlers import commands
from handlers.masking import erase_numbers
from handlers.services import Services
from handlers.themes import tokens
from handlers.types import Inbound, Reply, plain_text

if TYPE_CHECKING:
    from db.conversations import Talk

log = logging.getLogger(__name__)
REPHRASE_WINDOW = timedelta(minutes=1)
PICK_WINDOW = timedelta(minutes=30)  # a clarification's buttons pressed later than this are browsing, not a pick
REPHRASED = 45  # token_sort_ratio of two messages (handlers/themes.py's tokens) above which one rephrases the other
QUESTIONS = ("answer", "clarify", "fallback")


async def record(inbound: Inbound, reply: Reply, services: Services, talk: Talk | None = None,
                 last: Answered | None = None) -> None:
    """Keep what staff should review of this turn (nothing without a database, nor for staff). A
    failure here is logged, never raised: the resident's reply does not depend on it."""
    try:
        await keep(inbound, reply, services, talk, last)
    except Exception:
        log.exception("could not keep a message for review")


async def keep(inbound: Inbound, reply: Reply, services: Services, talk: Talk | None = None,
               last: Answered | None = None) -> None:
    """As `record`, but a failure is raised: the router keeps the items in the turn's own
    transaction, each written under a savepoint rolled back on a failure (one commit per question).
    `talk`: the turn's conversation record, whose last answer (`last`, as it was before the turn:
    see `remembered`) this turn's answer replaces; the router writes it back."""
    store = services.store
    if store is None or not reply.messages or _from_staff(inbound, services):
        return
    await _record(inbound, reply, services, talk, last)


def remembered(talk: Talk | None) -> Answered | None:
    """The last answer the conversation record keeps for review, read before the turn changes it."""
    if talk is None or not talk.answered or talk.topic_at is None:
        return None
    kept = json.loads(talk.answered)
    return Answered(kept["text"], kept["language"], talk.topic, kept["scores"], kept["score"], kept["reply"], talk.topic_at)


async def _record(inbound: Inbound, reply: Reply, services: Services, talk: Talk | None, last: Answered | None) -> None:
    if inbound.callback is not None:
        await _on_button(inbound, services, last)
        return
    said = inbound.text.partition(" ")[2] if inbound.text.startswith("/") else inbound.text
    if reply.kind == "emergency":
        _forget(talk)  # the record's topic is now the emergency's
        await _add(inbound, reply, services, "emergency", said)
        return
    if inbound.text.startswith("/") or reply.kind not in QUESTIONS or not said.strip():
        return
    now = services.clock()
    rephrased = last if last is not None and _rephrases(last, said, reply, now) else None
    if reply.kind == "answer":
        if talk is not None:  # its topic and time are the record's own (the router set them)
            talk.answered = json.dumps({"text": _masked(said, 4096), "language": reply.language,
                                        "scores": _scores(said, reply, services), "score": reply.score,
                                        "reply": _reply_text(reply)}, ensure_ascii=False)
    else:
        _forget(talk)  # a rephrasing of it is recorded once
    if rephrased is not None:
        await _add(inbound, reply, services, "rephrased", rephrased.text, decided=rephrased, followup=said)
    if reply.kind in ("fallback", "clarify"):
        await _add(inbound, reply, services, reply.kind, said)


def _forget(talk: Talk | None) -> None:
    if talk is not None:
        talk.answered = None


@dataclass(frozen=True)
class Answered:
    """What the conversation record keeps of a resident's last answer (the next one replaces it)."""

    text: str
    language: str
    topic: str | None
    scores: str
    score: float
    reply: str
    at: datetime


def _from_staff(inbound: Inbound, services: Services) -> bool:
    return (services.tickets.is_moderation_chat(inbound.channel, inbound.chat_id)
            or commands.is_staff_command(inbound.text))


def _rephrases(last: Answered, said: str, reply: Reply, now) -> bool:
    """A question within a minute of an answer, like it or answered with the same entry again."""
    if now - last.at > REPHRASE_WINDOW:
        return False
    if reply.kind == "answer" and reply.topic == last.topic:
        return True
    return fuzz.token_sort_ratio(tokens(erase_numbers(said)), tokens(last.text)) >= REPHRASED


async def _on_button(inbound: Inbound, services: Services, last: Answered | None) -> None:
    """👎 on an answer: the question it answered. An entry pressed after a clarification: noted on it."""
    from db import review

    kind, _, rest = inbound.callback.partition(":")
    if kind == "fb" and rest.startswith("n:"):
        if last is not None and last.topic == rest[2:]:
            await _add(inbound, None, services, "thumbs_down", last.text, decided=last)
    elif kind == "topic":
        async with services.store.transaction() as session, session.begin_nested():
            if (resident_id := await review.resident_id(session, inbound.channel, inbound.user_id)) is not None:
                await review.note_pick(session, resident_id, rest, services.clock() - PICK_WINDOW)


async def _add(inbound: Inbound, reply: Reply | None, services: Services, reason: str, text: str,
               decided=None, followup: str = "") -> None:
    """One review item: `reply` decided about `text`, or (a 👎, a rephrasing) the answer remembered in `decided`."""
    from db import review

    if decided is not None:
        values = dict(language=decided.language, decision="answer", topic=decided.topic,
                      candidates=json.dumps([decided.topic] if decided.topic else []), scores=decided.scores,
                      score=decided.score, reply=decided.reply)
    else:
        values = dict(language=reply.language, decision=reply.kind, topic=reply.topic,
                      candidates=json.dumps(reply.candidates), scores=_scores(text, reply, services), score=reply.score,
                      reply=_reply_text(reply))
    async with services.store.transaction() as session:  # the turn's own session: no second connection
        await review.add_item(session, inbound.channel, inbound.user_id, reason=reason, text=_masked(text, 4096),
                              followup=_masked(followup, 4096), model_version=getattr(services.model, "version", None),
                              **values)


def _masked(text: str, length: int) -> str:
    return erase_numbers(text.strip())[:length]


def _reply_text(reply: Reply) -> str:
    return _masked(plain_text(reply.messages[0].text), 2000) if reply.messages else ""


def _scores(text: str, reply: Reply, services: Services) -> str:
    """The model's best classes for the text, with their scores (JSON): as the router's
    understanding of the turn found them, else scored now."""
    best = reply.best
    if not best:
        from content.model import BEST

        scores = services.model.scores(text)
        best = [(services.model.classes[i], round(float(scores[i]), 3)) for i in np.argsort(-scores, kind="stable")[:BEST]]
    return json.dumps([list(pair) for pair in best], ensure_ascii=False)
