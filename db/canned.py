"""The staff's canned replies: the files of content/templates/canned/ are the seed (reviewed
wording, in git, on every fresh install); what the office changes in the console is kept here,
over the seed - a new reply, a changed text or title, a removal - so edits survive a deploy and
every server sees the same list. The texts are plain text (never templates): staff write them."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from db import admin_log
from db.models import CannedReply

NAME = re.compile(r"[a-z0-9_]{1,40}")
TEXT_LIMIT = 2000


class CannedError(ValueError):
    """A name, title or text missing or not allowed: the message says which (zh)."""


@dataclass(frozen=True)
class Canned:
    name: str
    title_zh: str
    title_en: str
    text: str
    seeded: bool  # one of the files
    edited: bool  # the office changed it (or made it)


async def replies(session: AsyncSession, seed: dict[str, tuple[str, str, str]]) -> dict[str, Canned]:
    """The replies by name, the office's edits over the seed (name -> (title_zh, title_en, text)),
    in the order of their Chinese titles."""
    found = {name: Canned(name, *values, seeded=True, edited=False) for name, values in seed.items()}
    for row in (await session.exec(select(CannedReply))).all():
        if row.deleted:
            found.pop(row.name, None)
        else:
            found[row.name] = Canned(row.name, row.title_zh, row.title_en, row.text, row.name in seed, True)
    return dict(sorted(found.items(), key=lambda kv: (kv[1].title_zh, kv[0])))


async def save(session: AsyncSession, actor: str, seed: dict, name: str, title_zh: str, title_en: str, text: str,
               new: bool, now: datetime) -> Canned:
    name, title_zh, title_en, text = name.strip(), title_zh.strip(), title_en.strip(), text.strip()
    if not NAME.fullmatch(name):
        raise CannedError("代号只能用小写英文字母、数字和下划线(1 至 40 个)。")
    if not title_zh or len(title_zh) > 64 or len(title_en) > 64:
        raise CannedError("请填写中文标题(64 字以内)。")
    if not text or len(text) > TEXT_LIMIT:
        raise CannedError(f"请填写回复内容({TEXT_LIMIT} 字以内)。")
    existing = await replies(session, seed)
    if new and name in existing:
        raise CannedError(f"已有代号为「{name}」的常用回复。")
    if not new and name not in existing:
        raise CannedError(f"没有代号为「{name}」的常用回复。")
    row = await session.get(CannedReply, name) or CannedReply(name=name)
    before = existing.get(name)
    row.title_zh, row.title_en, row.text, row.deleted, row.updated_at = title_zh, title_en or title_zh, text, False, now
    session.add(row)
    if before is None:
        what = f"added: {title_zh}"
    else:
        changes = [f"title {before.title_zh} -> {title_zh}"] if before.title_zh != title_zh else []
        changes += [f"English title {before.title_en} -> {row.title_en}"] if before.title_en != row.title_en else []
        changes += [f"text {len(before.text)} -> {len(text)} characters"] if before.text != text else []
        what = "; ".join(changes) or "saved unchanged"
    admin_log.record(session, actor, "canned", name, what)
    return Canned(name, title_zh, row.title_en, text, name in seed, True)


async def remove(session: AsyncSession, actor: str, seed: dict, name: str, now: datetime) -> None:
    existing = await replies(session, seed)
    if name not in existing:
        raise CannedError(f"没有代号为「{name}」的常用回复。")
    row = await session.get(CannedReply, name)
    if name in seed:  # a file stays in git: its removal is kept as a mark over it
        row = row or CannedReply(name=name)
        row.deleted, row.updated_at = True, now
        session.add(row)
    elif row is not None:
        await session.delete(row)
    admin_log.record(session, actor, "canned", name, f"removed: {existing[name].title_zh}")
