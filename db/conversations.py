"""The conversation record: one per (channel, chat, user), read at the start of a turn and
written at its end (db.models.Conversation; the dialogs it names are handlers/dialogs.py's)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from db.clock import aware
from db.models import Conversation

_TABLE = Conversation.__table__
_KEY = (_TABLE.c.channel == bindparam("key_channel")) & (_TABLE.c.chat_id == bindparam("key_chat_id")) & (
    _TABLE.c.user_id == bindparam("key_user_id"))
_INSERT, _UPDATE = insert(_TABLE), update(_TABLE).where(_KEY)
_READ = select(_TABLE).where(_TABLE.c.channel == bindparam("channel"), _TABLE.c.chat_id == bindparam("chat_id"),
                             _TABLE.c.user_id == bindparam("user_id"))


@dataclass
class Talk:
    """The record as handlers change it during a turn (the router saves it once, at the end)."""

    channel: str
    chat_id: str
    user_id: str
    dialog: str | None = None
    step: str | None = None
    filled: dict = field(default_factory=dict)
    topic: str | None = None
    topic_at: datetime | None = None
    language: str | None = None
    updated_at: datetime | None = None
    answered: str | None = None  # JSON: what staff's review keeps of the last answer (handlers/review.py)
    gone: bool = False  # the person asked to be forgotten this turn: nothing is written back
    resumed: bool = False  # this turn ended a dialog and went back to the report it had interrupted

    def enter(self, dialog: str, step: str, **filled) -> None:
        """Begin `dialog` at `step`; what another dialog had filled is dropped (a parked draft is kept)."""
        if self.dialog == "complaint" and dialog != "complaint":
            self.park(resume=True)  # a report in progress is taken up again when this one is over
        draft = self.filled.get("draft")
        self.dialog, self.step, self.filled = dialog, step, dict(filled)
        if draft is not None and dialog != "complaint":
            self.filled["draft"] = draft

    def leave(self) -> None:
        """Out of the dialog: back into the report it interrupted, if any; else out of any dialog
        (a parked draft is kept)."""
        draft = self.filled.get("draft")
        if draft is not None and draft.get("resume") and self.dialog != "complaint":
            report = {k: v for k, v in draft.items() if k not in ("step", "resume", "offered")}
            self.dialog, self.step, self.filled, self.resumed = "complaint", draft.get("step") or "what", report, True
            return
        self.dialog, self.step, self.filled = None, None, ({"draft": draft} if draft is not None else {})

    def park(self, resume: bool = False) -> None:
        """The report in progress becomes a draft: offered next time, or (`resume`) taken up again
        as soon as the dialog that interrupted it is over."""
        report = {k: v for k, v in self.filled.items() if k != "draft"}
        step = self.step
        self.dialog, self.step, self.filled = None, None, {}
        self.filled = {"draft": {**report, "step": step, "resume": resume}}


def _row(talk: Talk) -> dict:
    return {"channel": talk.channel, "chat_id": talk.chat_id, "user_id": talk.user_id, "dialog": talk.dialog,
            "step": talk.step, "filled": json.dumps(talk.filled, ensure_ascii=False), "topic": talk.topic,
            "topic_at": talk.topic_at, "language": talk.language, "updated_at": talk.updated_at,
            "answered": talk.answered}


async def read(conn: AsyncConnection | AsyncSession, channel: str, chat_id: str, user_id: str) -> Talk:
    """The record (an empty one for a first message)."""
    if isinstance(conn, AsyncSession):
        conn = await conn.connection()
    result = await conn.execute(_READ, {"channel": channel, "chat_id": chat_id, "user_id": user_id})
    row = result.first()
    if row is None:
        return Talk(channel, chat_id, user_id)
    values = row._mapping
    return Talk(channel, chat_id, user_id, values["dialog"], values["step"], json.loads(values["filled"] or "{}"),
                values["topic"], aware(values["topic_at"]), values["language"], aware(values["updated_at"]),
                values["answered"])


async def write(session: AsyncSession, talk: Talk) -> None:
    """Save the record in the caller's transaction: an UPDATE, and an INSERT only for the first
    (Core statements: the ORM's merge read the row again first)."""
    conn = await session.connection()
    row = _row(talk)
    if row["updated_at"] is None:  # the turn stamps it with its own clock (services.clock)
        raise ValueError("a conversation record is written with the time of its last turn (talk.updated_at)")
    done = await conn.execute(_UPDATE, {**row, "key_channel": talk.channel, "key_chat_id": talk.chat_id,
                                        "key_user_id": talk.user_id})
    if done.rowcount == 0:
        await conn.execute(_INSERT, row)


async def language_of(session: AsyncSession, channel: str, chat_id: str, user_id: str) -> str | None:
    """The language a person writes in, for what is sent to them later (a staff reply, a notice)."""
    conn = await session.connection()
    return (await conn.execute(select(_TABLE.c.language).where(
        _TABLE.c.channel == channel, _TABLE.c.chat_id == chat_id, _TABLE.c.user_id == user_id))).scalar()
