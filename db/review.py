"""The review items (messages the bot may have misunderstood), staff's labels, and the model
versions their approval makes (issue 25). Every function takes the caller's session."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Conversation, ModelVersion, Resident, ReviewItem

OPEN = ("new", "labelled")  # shown on the review page
_ITEMS = ReviewItem.__table__
ACTIVE = "active"


async def add_item(session: AsyncSession, channel: str, user_id: str, **values) -> None:
    """One review item of the resident (channel, user_id), under a savepoint: a failure loses the
    item, not the caller's transaction. One Core statement that reads the resident's id too (the
    ORM's unit of work cost ten times more, on a fallback or clarification of every turn)."""
    row = ReviewItem(channel=channel, **values).model_dump(exclude={"id", "resident_id"})  # the model's defaults
    row["resident_id"] = select(Resident.id).where(Resident.channel == channel, Resident.user_id == user_id).scalar_subquery()
    async with session.begin_nested():
        await (await session.connection()).execute(insert(_ITEMS).values(**row))


async def note_pick(session: AsyncSession, resident_id: int, entry: str, since: datetime) -> bool:
    """The resident chose `entry` after a clarification offering it (since `since`): noted on it."""
    item = (await session.exec(select(ReviewItem).where(
        ReviewItem.resident_id == resident_id, ReviewItem.reason == "clarify", col(ReviewItem.picked).is_(None),
        ReviewItem.created_at >= since).order_by(col(ReviewItem.id).desc()).limit(1))).first()
    if item is None or f'"{entry}"' not in item.candidates:
        return False
    item.picked = entry
    session.add(item)
    return True


async def purge(session: AsyncSession, before: datetime, answers_before: datetime) -> int:
    """Delete the review items older than `before` that are not approved examples, and what the
    conversation records keep of answers older than `answers_before`; returns how many items."""
    done = await session.exec(delete(ReviewItem).where(ReviewItem.created_at < before, ReviewItem.status != "approved"))
    await session.exec(update(Conversation).where(col(Conversation.answered).is_not(None),
                                                  Conversation.topic_at < answers_before).values(answered=None))
    return done.rowcount


async def open_items(session: AsyncSession, limit: int = 2000) -> list[ReviewItem]:
    """The items to review, newest first."""
    query = (select(ReviewItem).where(col(ReviewItem.status).in_(OPEN))
             .order_by(col(ReviewItem.created_at).desc(), col(ReviewItem.id).desc()).limit(limit))
    return list((await session.exec(query)).all())


async def label_items(session: AsyncSession, ids: Iterable[int], label: str | None, actor: str, now: datetime) -> int:
    """Label these open items (None: unlabelled again; "dismissed": nothing to learn from them)."""
    ids = sorted(set(ids))
    if not ids:
        return 0
    values = (dict(status="new", label=None, labelled_by=None, labelled_at=None) if label is None else
              dict(status="dismissed", label=None, labelled_by=actor, labelled_at=now) if label == "dismissed" else
              dict(status="labelled", label=label, labelled_by=actor, labelled_at=now))
    done = await session.exec(update(ReviewItem).where(col(ReviewItem.id).in_(ids), col(ReviewItem.status).in_(OPEN))
                              .values(**values))
    return done.rowcount


async def approve(session: AsyncSession, ids: Iterable[int] | None, actor: str, now: datetime) -> ModelVersion | None:
    """Approve the labelled items (these, or all): a new model version to train with them."""
    query = select(ReviewItem).where(ReviewItem.status == "labelled")
    if ids is not None:
        query = query.where(col(ReviewItem.id).in_(sorted(set(ids))))
    items = list((await session.exec(query)).all())
    if not items:
        return None
    version = ModelVersion(created_by=actor)
    session.add(version)
    await session.flush()
    for item in items:
        item.status, item.approved_by, item.approved_at, item.batch = "approved", actor, now, version.id
        session.add(item)
    return version


async def trained_examples(session: AsyncSession, version_id: int | None) -> list[tuple[str, str]]:
    """(text, label) of the approved items a model version learns from: its own batch and those
    of the active versions before it (None: those of the active versions), oldest first."""
    active = select(ModelVersion.id).where(ModelVersion.state == ACTIVE)
    if version_id is not None:
        active = active.where(ModelVersion.id < version_id)
    batches = [*(await session.exec(active)).all(), *([version_id] if version_id is not None else [])]
    if not batches:
        return []
    rows = await session.exec(select(ReviewItem.text, ReviewItem.label).where(
        ReviewItem.status == "approved", col(ReviewItem.batch).in_(batches)).order_by(col(ReviewItem.id)))
    return [(text, label) for text, label in rows.all()]


async def current(session: AsyncSession) -> ModelVersion | None:
    """The model every process answers with: the newest active version (None: the files' own model)."""
    return (await session.exec(select(ModelVersion).where(ModelVersion.state == ACTIVE)
                               .order_by(col(ModelVersion.id).desc()).limit(1))).first()


async def versions(session: AsyncSession, limit: int = 20) -> list[ModelVersion]:
    return list((await session.exec(select(ModelVersion).order_by(col(ModelVersion.id).desc()).limit(limit))).all())


async def to_train(session: AsyncSession) -> list[ModelVersion]:
    return list((await session.exec(select(ModelVersion).where(ModelVersion.state == "training")
                                    .order_by(col(ModelVersion.id)))).all())


async def finish(session: AsyncSession, version_id: int, state: str, model_hash: str = "", report: str = "",
                 examples: int = 0, *, now: datetime) -> None:
    version = await session.get(ModelVersion, version_id)
    version.state, version.model_hash, version.report, version.examples = state, model_hash, report[:8192], examples
    version.ready_at = now
    session.add(version)


async def confirm(session: AsyncSession, version_id: int) -> bool:
    """An administrator confirms a held batch: it is trained although it lowers the score."""
    version = await session.get(ModelVersion, version_id)
    if version is None or version.state != "held":
        return False
    version.state, version.confirmed = "training", True
    session.add(version)
    return True


async def reject(session: AsyncSession, version_id: int) -> bool:
    """A held batch not confirmed: its items go back to labelled, to be labelled again."""
    version = await session.get(ModelVersion, version_id)
    if version is None or version.state != "held":
        return False
    version.state = "rejected"
    session.add(version)
    await _unapprove(session, version_id)
    return True


async def rollback(session: AsyncSession) -> ModelVersion | None:
    """The current version rolled back (its items labelled again, not approved); returns it, or
    None when the files' own model is current already."""
    version = await current(session)
    if version is None:
        return None
    version.state = "rolled_back"
    session.add(version)
    await _unapprove(session, version.id)
    return version


async def _unapprove(session: AsyncSession, version_id: int) -> None:
    await session.exec(update(ReviewItem).where(ReviewItem.batch == version_id).values(
        status="labelled", batch=None, approved_by=None, approved_at=None))


async def not_in_report_rows(conn: AsyncConnection, lo: datetime, hi: datetime, limit: int = 5000) -> list[tuple]:
    """(created_at, text) of the messages of [lo, hi) staff labelled "not in the report", newest first
    (for the weekly export, on its reading connection)."""
    table = ReviewItem.__table__
    rows = await conn.execute(sa_select(table.c.created_at, table.c.text).where(
        table.c.label == "not_in_report", table.c.created_at >= lo, table.c.created_at < hi)
        .order_by(table.c.created_at.desc()).limit(limit))
    return [tuple(row) for row in rows.all()]


async def resident_id(session: AsyncSession, channel: str, user_id: str) -> int | None:
    """The resident's row id, read in the caller's session (a turn holds SQLite's one connection)."""
    return (await session.exec(select(Resident.id).where(Resident.channel == channel, Resident.user_id == user_id))).first()
