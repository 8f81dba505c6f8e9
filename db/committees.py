"""The neighbourhood committees (居委会) as the office keeps them in the console. Until the console
first changes the list, the seed (COMMITTEES_FILE, handlers/committees.py) is the list; the first
change copies the seed into the table, and from then on the table is the list."""
from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from db import admin_log
from db.models import Committee

PHONE_CHARACTERS = set("0123456789-() ")


class CommitteeError(ValueError):
    """A name missing or taken, no places, a phone that is not one: the message says which (zh)."""


async def places(session: AsyncSession, seed: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Each committee's places: the table's once the console changed it, else the seed's."""
    if not await admin_log.ever_changed(session, "committee"):
        return dict(seed)
    return {c.name: tuple(json.loads(c.places)) for c in await listing(session, seed)}


async def listing(session: AsyncSession, seed: dict[str, tuple[str, ...]]) -> list[Committee]:
    if not await admin_log.ever_changed(session, "committee"):
        return [Committee(name=name, places=json.dumps(list(p), ensure_ascii=False)) for name, p in seed.items()]
    return list((await session.exec(select(Committee).order_by(Committee.name))).all())


async def _seeded(session: AsyncSession, seed: dict[str, tuple[str, ...]], actor: str) -> None:
    if await admin_log.ever_changed(session, "committee"):
        return
    for name, found in seed.items():
        session.add(Committee(name=name, places=json.dumps(list(found), ensure_ascii=False)))
    admin_log.record(session, actor, "committee", "*", f"copied {len(seed)} from COMMITTEES_FILE")
    await session.flush()


def split_places(text: str) -> list[str]:
    """Places typed one a line or separated by commas, 、 or ;."""
    for mark in (",", ",", "、", ";", ";"):
        text = text.replace(mark, "\n")
    return list(dict.fromkeys(p.strip()[:64] for p in text.splitlines() if p.strip()))


async def save(session: AsyncSession, actor: str, seed: dict[str, tuple[str, ...]], name: str, place_text: str,
               phone: str, old_name: str = "", *, now: datetime) -> Committee:
    """A committee added (no `old_name`) or changed (renamed from `old_name`)."""
    name, phone = name.strip()[:64], phone.strip()
    found = split_places(place_text)
    if not name:
        raise CommitteeError("请填写居委会名称。")
    if not found:
        raise CommitteeError("请至少填写一个地点(弄、小区或路)。")
    if len(phone) > 32 or not set(phone) <= PHONE_CHARACTERS or (phone and sum(c.isdigit() for c in phone) < 7):
        raise CommitteeError("电话只能填数字(可带 - 和括号),按居委会公布的号码填写。")
    await _seeded(session, seed, actor)
    existing = (await session.exec(select(Committee).where(Committee.name == (old_name or name)))).first()
    if not old_name and existing is not None:
        raise CommitteeError(f"已有名为「{name}」的居委会。")
    if old_name and existing is None:
        raise CommitteeError(f"没有名为「{old_name}」的居委会。")
    if old_name and name != old_name and (await session.exec(select(Committee).where(Committee.name == name))).first():
        raise CommitteeError(f"已有名为「{name}」的居委会。")
    row = existing or Committee(name=name)
    before = (row.name, json.loads(row.places), row.phone) if existing else None
    row.name, row.places, row.phone, row.updated_at = name, json.dumps(found, ensure_ascii=False), phone or None, now
    session.add(row)
    if before is None:
        what = f"added: {'、'.join(found)}" + (f"; phone {phone}" if phone else "")
    else:
        changes = [f"renamed from {before[0]}"] if before[0] != name else []
        changes += [f"places {'、'.join(before[1])} -> {'、'.join(found)}"] if before[1] != found else []
        changes += [f"phone {before[2] or '-'} -> {phone or '-'}"] if (before[2] or "") != phone else []
        what = "; ".join(changes) or "saved unchanged"
    admin_log.record(session, actor, "committee", name, what)
    return row


async def remove(session: AsyncSession, actor: str, seed: dict[str, tuple[str, ...]], name: str) -> None:
    await _seeded(session, seed, actor)
    row = (await session.exec(select(Committee).where(Committee.name == name))).first()
    if row is None:
        raise CommitteeError(f"没有名为「{name}」的居委会。")
    await session.delete(row)
    admin_log.record(session, actor, "committee", name, "removed")
