"""A message that cannot be sent for a reason of its own never blocks its chat: after
MAX_ATTEMPTS it is failed, staff are told (the moderation chat's note is one of the console's
alerts), the messages behind it go on, and /healthz fails while a chat does not move."""
from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlmodel import select

from bot.delivery import MAX_ATTEMPTS, OutboxWorker, RetryLater
from bot.settings import load_settings
from bot.web import build_web_app
from db import outbox
from db.export_queries import recent_alerts
from db.models import OutboxMessage, TicketEvent, utcnow
from tests import test_outbox
from tests.test_outbox import MOD, ScriptedSender, a_ticket, queue, table

office = test_outbox.office  # a fixture


async def due_now(office) -> None:
    """As if every retry's wait were over (no sleeping)."""
    async with office.store.transaction() as session:
        for row in (await session.exec(select(OutboxMessage).where(OutboxMessage.state == "pending"))).all():
            row.next_attempt_at = utcnow() - timedelta(seconds=1)
            session.add(row)


async def test_a_poison_card_fails_after_its_attempts_and_the_next_card_goes_out(office):
    ticket = await a_ticket(office)
    await queue(office, (MOD, "poison"), (MOD, "next card"), ticket=ticket, purpose="card")
    sender = ScriptedSender({"poison": [ValueError("Specified file input is a file URI")] * 10})
    worker = OutboxWorker(office.store, {"telegram": sender}, office)
    for _ in range(MAX_ATTEMPTS):
        await worker.run_once()
        await due_now(office)
    assert [text for _, text in sender.tried].count("poison") == MAX_ATTEMPTS
    await worker.run_once()  # the card behind it, and the note about it
    states = dict(table(office, "SELECT text, state FROM outboxmessage WHERE purpose = 'card'"))
    assert states == {"poison": "failed", "next card": "sent"}
    [(alert, state)] = table(office, "SELECT text, state FROM outboxmessage WHERE purpose = 'alert'")
    assert ticket.number in alert and "多次发送失败" in alert and state == "sent"
    async with office.store.engine.connect() as conn:  # the console's alert banner lists it
        assert any(ticket.number in row.text for row in await recent_alerts(conn))


async def test_a_transient_failure_is_tried_for_as_long_as_it_takes(office):
    await queue(office, ("a", "a1"))
    sender = ScriptedSender({"a1": [RetryLater(None, "HTTP 502")] * (MAX_ATTEMPTS + 2)})
    worker = OutboxWorker(office.store, {"telegram": sender}, office)
    for _ in range(MAX_ATTEMPTS + 2):
        await worker.run_once()
        await due_now(office)
    assert table(office, "SELECT state, attempts FROM outboxmessage") == [("pending", MAX_ATTEMPTS + 2)]
    assert await worker.run_once() == 1


async def test_a_poison_reply_to_a_resident_is_marked_on_the_ticket(office):
    ticket = await a_ticket(office, chat="r1")
    await queue(office, ("r1", "poison"), ("r1", "after"), ticket=ticket)
    worker = OutboxWorker(office.store, {"telegram": ScriptedSender({"poison": [KeyError("x")] * 10})}, office)
    for _ in range(MAX_ATTEMPTS + 1):
        await worker.run_once()
        await due_now(office)
    assert dict(table(office, "SELECT text, state FROM outboxmessage WHERE chat_id = 'r1'")) == {
        "poison": "failed", "after": "sent"}
    assert table(office, "SELECT undelivered FROM ticket") == [(1,)]
    async with office.store.transaction() as session:
        kinds = (await session.exec(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id))).all()
    assert "undelivered" in kinds


@pytest.mark.parametrize("age, status", [(timedelta(minutes=5), 200), (timedelta(hours=1), 503)])
async def test_healthz_fails_while_the_oldest_message_waits_too_long(office, age, status):
    async with office.store.transaction() as session:
        row = outbox.enqueue(session, "telegram", MOD, "card", "stuck")
        row.created_at = utcnow() - age
        notice = outbox.enqueue(session, "telegram", "r9", "notice", "held till morning")  # on purpose: not counted
        notice.created_at = utcnow() - timedelta(days=1)
    settings = load_settings({"OUTBOX_STUCK_AFTER": "900"})
    server = TestServer(build_web_app(settings, office), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http, http.get(server.make_url("/healthz")) as response:
            health = await response.json()
            assert response.status == status
        assert abs(health["outbox_oldest_seconds"] - age.total_seconds()) < 60
        assert ("outbox" in health["status"]) == (status == 503)
    finally:
        await server.close()
