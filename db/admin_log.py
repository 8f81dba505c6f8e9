"""The administrators' change log: every change to accounts, committees and canned replies made in
the console, with who and when. Each function takes the session of the caller's transaction, so a
change and its line are written together or not at all."""
from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import AdminChange

KINDS = ("account", "committee", "canned")


def record(session: AsyncSession, actor: str, kind: str, target: str, what: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind of change: {kind}")
    session.add(AdminChange(actor=actor[:64], kind=kind, target=target[:128], what=what[:512]))


async def recent(session: AsyncSession, kind: str, limit: int = 30) -> list[AdminChange]:
    return list((await session.exec(select(AdminChange).where(AdminChange.kind == kind)
                                    .order_by(AdminChange.id.desc()).limit(limit))).all())


async def ever_changed(session: AsyncSession, kind: str) -> bool:
    """Whether the console ever changed this kind of thing (then the database's list is the office's)."""
    return (await session.exec(select(AdminChange.id).where(AdminChange.kind == kind).limit(1))).first() is not None
