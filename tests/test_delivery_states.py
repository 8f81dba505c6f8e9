"""The outbox's state machine: every move db/outbox.py makes, from every state, on a real
database; the forbidden ones refused (a row function raises, a bulk one leaves the row); and no
other module writes an outbox row's state."""
from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from db import outbox
from db.delivery_states import FINAL, MOVES, OPEN, CancelReason, ForbiddenMove, State, allowed, check, sources
from db.models import OutboxMessage, utcnow

pytestmark = pytest.mark.both_databases  # PostgreSQL holds the state column to its length

ROOT = Path(__file__).resolve().parent.parent
OWNER = "test-worker"


def test_the_table_names_every_state_and_its_final_ones():
    assert set(MOVES) == set(State)
    assert set(FINAL) == {State.SENT, State.FAILED, State.CANCELLED}
    assert set(OPEN) == {State.PENDING, State.SENDING}
    for source in State:
        for target in State:
            if target in MOVES[source]:
                assert allowed(source, target) and check(source, target) is target
                assert source in sources(target)
            else:
                assert not allowed(source, target) and source not in sources(target)
                with pytest.raises(ForbiddenMove):
                    check(source, target)


# Each function of db/outbox.py that changes a row's state, the state it moves a row to.
ROW_MOVES = {
    "start_sending": (State.SENDING, lambda row: outbox.start_sending(row)),
    "mark_sent": (State.SENT, lambda row: outbox.mark_sent(row, "42", utcnow())),
    "mark_retry": (State.PENDING, lambda row: outbox.mark_retry(row, 5, "a 500", utcnow())),
    "hold": (State.PENDING, lambda row: outbox.hold(row, utcnow() + timedelta(hours=1))),
    "mark_held": (State.HELD, lambda row: outbox.mark_held(row, "48 hours", "t1")),
    "mark_failed": (State.FAILED, lambda row: outbox.mark_failed(row, "refused")),
}


async def _row_in(store, state: State) -> int:
    async with store.transaction() as session:
        row = outbox.enqueue(session, "telegram", "r1", "reply", f"in state {state}")
        row.state = state  # (the test puts it there directly, to start the walk from it)
        session.add(row)
        await session.flush()
        return row.id


async def _state_of(store, row_id: int) -> OutboxMessage:
    async with store.transaction() as session:
        return await session.get(OutboxMessage, row_id)


@pytest.mark.parametrize("name", ROW_MOVES)
async def test_every_row_move_from_every_state(services, name):
    target, move = ROW_MOVES[name]
    for source in State:
        row_id = await _row_in(services.store, source)
        async with services.store.transaction() as session:
            row = await session.get(OutboxMessage, row_id)
            if allowed(source, target):
                move(row)
                session.add(row)
            else:
                with pytest.raises(ForbiddenMove):
                    move(row)
                assert row.state == source  # nothing changed before the refusal
        assert (await _state_of(services.store, row_id)).state == (target if allowed(source, target) else source), \
            f"{name} from {source}"


async def test_every_bulk_move_from_every_state(services):
    """cancel, hand_over and settle_interrupted change many rows by a WHERE on the state: each
    moves exactly the rows whose state may make its move."""
    store, now = services.store, utcnow()
    cases = {
        "cancel": (State.CANCELLED, set(sources(State.CANCELLED))),
        "hand_over": (State.PENDING, {State.HELD}),  # (pending and sending may go to pending too, not by this)
        "settle_interrupted": (State.UNSURE, {State.SENDING}),
    }
    assert cases["cancel"][1] == {State.PENDING, State.HELD}
    for name, (target, movable) in cases.items():
        assert movable <= set(sources(target))
        ids = {source: await _row_in(store, source) for source in State}
        async with store.transaction() as session:
            if name == "cancel":
                assert await outbox.cancel(session, ids.values(), CancelReason.WITHDRAWN) == len(movable)
            elif name == "hand_over":
                assert await outbox.hand_over(session, "telegram", "r1", now) == len(movable)
            else:
                assert len(await outbox.settle_interrupted(session, now, all_of_them=True)) == len(movable)
        for source, row_id in ids.items():
            row = await _state_of(store, row_id)
            assert row.state == (target if source in movable else source), f"{name} from {source}"
            if name == "cancel" and source in movable:
                assert row.last_error == "withdrawn"
        async with store.transaction() as session:  # the next case starts from rows of its own
            for row in (await session.exec(select(OutboxMessage))).all():
                await session.delete(row)


async def test_cancel_takes_a_select_of_ids_and_leaves_a_row_being_sent(services):
    store = services.store
    pending, sending = await _row_in(store, State.PENDING), await _row_in(store, State.SENDING)
    async with store.transaction() as session:
        ids = select(OutboxMessage.id).where(OutboxMessage.chat_id == "r1")
        assert await outbox.cancel(session, ids, CancelReason.FORGOTTEN) == 1
    assert ((await _state_of(store, pending)).state, (await _state_of(store, pending)).last_error) == (
        "cancelled", "forgotten")
    assert (await _state_of(store, sending)).state == "sending"  # it goes on; its outcome is recorded as usual


def _writes_outbox_state(path: Path) -> list[int]:
    """Lines of `path` that set a `state` (an attribute, or a `state=` keyword of an UPDATE's values)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for element in (target.elts if isinstance(target, ast.Tuple) else [target]):
                    if isinstance(element, ast.Attribute) and element.attr == "state":
                        lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "values":
            lines += [node.lineno for k in node.keywords if k.arg == "state"]
    return lines


def test_only_db_outbox_writes_an_outbox_rows_state():
    offenders = {}
    for package in ("bot", "handlers", "db"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts or path == ROOT / "db" / "outbox.py":
                continue
            source = path.read_text(encoding="utf-8")
            if "OutboxMessage" not in source and "outbox" not in source:
                continue
            if lines := _writes_outbox_state(path):
                offenders[str(path.relative_to(ROOT))] = lines
    # db/review.py moves model versions (a state of their own), not outbox rows
    assert set(offenders) <= {"db/review.py"}, offenders


async def test_the_migration_turns_the_rows_taken_back_before_into_cancelled_ones(tmp_path):
    """0017: "failed" with the sentence db/events.py or db/privacy.py wrote becomes "cancelled" with its reason."""
    import sqlite3

    from alembic import command

    from db import migrations
    from db.engine import make_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"

    async def upgrade(to: str) -> None:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(migrations.config(connection=c), to))
        await engine.dispose()

    await upgrade("0016_review")
    with sqlite3.connect(tmp_path / "old.db") as db:
        for text, error in [("a", "withdrawn: the event was withdrawn before this notice went out"),
                            ("b", "resident asked to be forgotten"), ("c", "Forbidden: bot was blocked by the user")]:
            db.execute("insert into outboxmessage (channel, chat_id, purpose, text, buttons, state, attempts, "
                       "next_attempt_at, last_error, created_at) values ('telegram', '1', 'notice', ?, '[]', 'failed', "
                       "1, '2026-11-30 00:00:00', ?, '2026-11-30 00:00:00')", (text, error))
    await upgrade("head")
    with sqlite3.connect(tmp_path / "old.db") as db:
        assert db.execute("select text, state, last_error from outboxmessage order by id").fetchall() == [
            ("a", "cancelled", "withdrawn"), ("b", "cancelled", "forgotten"),
            ("c", "failed", "Forbidden: bot was blocked by the user")]


async def test_the_worker_knows_rows_and_senders_and_leaves_the_rest_to_the_hooks_of_each_state(services):
    """What an outcome means beyond its row is the hooks' (handlers/delivery_outcomes.py): a
    worker given other hooks calls those, with the row as stored after its move, and touches
    no ticket itself."""
    from dataclasses import replace

    from bot.delivery import Held, OutboxWorker, Refused
    from db.models import Ticket
    from handlers.services import TicketRules
    from tests.test_outbox import ScriptedSender, a_ticket, queue

    office = replace(services, tickets=TicketRules(moderation_chat="-100"))
    ticket = await a_ticket(office)
    await queue(office, ("r1", "refused"), ("r1", "held"), ticket=ticket)
    await queue(office, ("r2", "sent"))
    seen = []

    async def hook(session, services_, report):
        assert services_ is office
        seen.append((report.row.text, report.row.state, report.blocked, report.notified, report.message_id))

    sender = ScriptedSender({"refused": [Refused("bot was blocked by the user", blocked=True)],
                             "held": [Held(notified=True, message_id="t9")]})
    worker = OutboxWorker(office.store, {"telegram": sender}, office,
                          hooks={State.SENT: (hook,), State.FAILED: (hook,), State.HELD: (hook,)})
    await worker.run_once()
    await worker.run_once()
    assert sorted(seen) == [("held", "held", False, True, None), ("refused", "failed", True, False, None),
                            ("sent", "sent", False, False, "100")]
    async with office.store.transaction() as session:
        fresh = await session.get(Ticket, ticket.id)
    assert not fresh.resident_blocked and not fresh.undelivered  # the default hooks would have marked it
