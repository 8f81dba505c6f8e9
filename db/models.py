"""The tables. Times are stored in UTC."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Resident(SQLModel, table=True):
    """One person on one channel: language choice and what the bot is waiting for from them."""

    __table_args__ = (UniqueConstraint("channel", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    user_id: str = Field(max_length=64)
    language: str | None = Field(default=None, max_length=2)
    awaiting: str | None = Field(default=None, max_length=32)  # e.g. "message" after "leave a message"
    created_at: datetime = Field(default_factory=utcnow)


class Feedback(SQLModel, table=True):
    """A "helpful / not helpful" click on an answer."""

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    entry_id: str = Field(index=True, max_length=64)
    helpful: bool
    created_at: datetime = Field(default_factory=utcnow)


class Opinion(SQLModel, table=True):
    """A suggestion or a message a resident left for the office (not a ticket)."""

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    text: str = Field(max_length=4096)
    created_at: datetime = Field(default_factory=utcnow, index=True)
