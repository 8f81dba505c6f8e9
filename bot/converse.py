"""`python -m bot converse`: conversations as JSON lines, the evaluation contract of dialogs
(/work/shared/eval/DIALOGS.md, scored by dialogs.py).

One event a line in - a resident says something, picks a choice, sends a photo or a location;
staff reply to a conversation's latest ticket card or set its status; the clock moves - and one
JSON object a line out: what the bot took the turn to be, its reply and choices, the dialog the
resident is in afterwards, the language, the conversation's latest ticket and what the outbox
delivered to that resident because of the line.

It runs the real router, dialogs, store and outbox worker (with senders that deliver into this
process) on a fresh temporary SQLite database, or on DATABASE_URL when that is set. The
moderation chat is played by one listed staff member replying to the ticket's card, through the
real staff handlers. One clock, moved by `advance`, is the clock of everything (db.clock.install).
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from bot.channels.common import as_buttons, picked
from bot.delivery import OutboxWorker, Sent
from bot.startup import ListedStaff, build_core
from db.clock import Clock, install
from handlers.router import handle
from handlers.services import Services, TicketRules
from handlers.throttle import Throttle
from handlers.types import Button, Inbound, Reply, plain_text

MODERATION_CHAT = "-100"  # the moderation chat the script's staff answer in (on Telegram)
STAFF_ID = "1"
CONTRACT_KINDS = {"answer", "clarify", "fallback", "complaint", "opinion", "ticket_status", "greeting", "emergency",
                  "command", "choice", "cancel", "note", "staff"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    """"30s", "45m", "3h", "2d" -> a timedelta; ValueError otherwise."""
    match = _DURATION.match(str(text))
    if match is None:
        raise ValueError(f"not a duration: {text!r} (30s, 45m, 3h, 2d)")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


class Delivered:
    """The senders of every channel: a message "goes out" by being kept here, per (channel, chat)."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, str], list] = {}
        self._ids = 0

    async def send(self, row, ticket) -> Sent:
        self._ids += 1
        self.sent.setdefault((row.channel, row.chat_id), []).append(row)
        return Sent(str(self._ids))

    def take(self, channel: str, chat_id: str) -> list:
        return self.sent.pop((channel, chat_id), [])


@dataclass
class Resident:
    """What the channel adapter remembers of one conversation: the choices last shown."""

    channel: str
    choices: list[Button] = field(default_factory=list)
    updates: int = 0


class Conversations:
    def __init__(self, services: Services, clock: Clock) -> None:
        self.services = services
        self.clock = clock
        self.delivered = Delivered()
        self.worker = OutboxWorker(services.store, {c: self.delivered for c in ("telegram", "wechat", "console")},
                                   services)
        self.residents: dict[str, Resident] = {}

    async def event(self, event: dict) -> dict:
        if "advance" in event:
            self.clock.advance(duration(event["advance"]))
            return {"advance": event["advance"]}
        conv = str(event["conv"])
        person = self.residents.setdefault(conv, Resident(event.get("channel", "console")))
        person.channel = event.get("channel", person.channel)
        if "staff_reply" in event or "staff_status" in event:
            reply = await self._staff(conv, person, event)
        else:
            reply = await self._resident(conv, person, event)
        await self.worker.run_once()
        pushed_rows = self.delivered.take(person.channel, conv)
        self.delivered.sent.clear()  # the moderation chat's and others': delivered, nobody reads them here
        pushed = [plain_text(row.text) for row in pushed_rows if row.text]
        notice_buttons = [b for row in pushed_rows for line in as_buttons(_rows_of(row)) for b in line]
        if notice_buttons:
            person.choices = notice_buttons
        return await self._output(conv, person, reply, event, pushed)

    async def _resident(self, conv: str, person: Resident, event: dict) -> Reply:
        person.updates += 1
        base = dict(channel=person.channel, user_id=conv, chat_id=conv, message_id=str(person.updates))
        if "pick" in event:
            choice = event["pick"]
            chosen = (person.choices[choice - 1] if isinstance(choice, int) and 1 <= choice <= len(person.choices)
                      else None if isinstance(choice, int) else
                      next((b for b in person.choices if str(choice) in b.label), None))
            inbound = Inbound(**base, callback=chosen.data) if chosen else Inbound(**base, text=str(choice))
        elif event.get("photo"):
            inbound = Inbound(**base, photos=(f"photo-{conv}-{person.updates}",))
        elif "location" in event:
            latitude, longitude = event["location"]
            inbound = Inbound(**base, location=(float(latitude), float(longitude)))
        else:
            text = str(event.get("say", ""))
            # as the console and WeChat read a typed choice: its number or its label presses it
            typed = picked(text, person.choices) if person.channel != "telegram" else None
            inbound = Inbound(**base, callback=typed.data) if typed else Inbound(**base, text=text)
        reply = await handle(inbound, self.services)
        person.choices = [b for message in reply.messages for row in message.buttons for b in row]
        return reply

    async def _staff(self, conv: str, person: Resident, event: dict) -> Reply | None:
        ticket = await self._latest_ticket(conv, person.channel)
        if ticket is None:
            return None
        person.updates += 1
        base = dict(channel="telegram", user_id=STAFF_ID, chat_id=MODERATION_CHAT, user_name="@staff",
                    message_id=f"s{conv}{person.updates}")
        if "staff_reply" in event:
            inbound = Inbound(**base, text=str(event["staff_reply"]), reply_to=ticket.card_message_id)
        else:
            state = str(event["staff_status"])
            if state == "rejected":  # set without a reason, as a console's status control may be
                from handlers import staff

                return await staff.change_status(ticket, state, "", f"staff:{STAFF_ID} @staff", self.services)
            note = self.services.texts.status(state, "zh")
            inbound = Inbound(**base, text=f"/status {ticket.number} {state} {note}")
        return await handle(inbound, self.services)

    async def _latest_ticket(self, conv: str, channel: str):
        from sqlmodel import select

        from db.models import Resident as Row
        from db.models import Ticket

        async with self.services.store.transaction() as session:
            return (await session.exec(select(Ticket).join(Row, Row.id == Ticket.resident_id).where(
                Row.channel == channel, Row.user_id == conv).order_by(Ticket.id.desc()))).first()

    async def _output(self, conv: str, person: Resident, reply: Reply | None, event: dict, pushed: list[str]) -> dict:
        from db import conversations

        staff = "staff_reply" in event or "staff_status" in event
        ticket = await self._latest_ticket(conv, person.channel)
        async with self.services.store.transaction() as session:
            state = await conversations.read(session, person.channel, conv, conv)
        kind = "staff" if staff else _kind(reply, event)
        return {
            "conv": conv,
            "kind": kind,
            "topic": None if staff or reply is None else reply.topic,
            "reply": "\n".join(plain_text(m.text) for m in reply.messages) if reply else "",
            "choices": [b.label for m in (reply.messages if reply else []) for row in m.buttons for b in row],
            "dialog": state.dialog,
            "lang": (state.language if staff and state.language else
                     reply.language if reply else self.services.default_language),
            "ticket": None if ticket is None else {
                "number": ticket.number, "status": ticket.status,
                "place": ticket.place or (f"{ticket.latitude:.5f}, {ticket.longitude:.5f}"
                                          if ticket.latitude is not None else ""),
                "text": ticket.text, "phone": ticket.phone},
            "pushed": pushed,
        }


def _rows_of(row) -> list:
    from db.outbox import buttons_of

    return buttons_of(row)


def _kind(reply: Reply | None, event: dict) -> str:
    if reply is None:
        return "fallback"
    if reply.kind in CONTRACT_KINDS:
        return reply.kind
    if "pick" in event:
        return "choice"
    if str(event.get("say", "")).startswith("/"):
        return "command"
    return "choice" if reply.kind == "menu" else "fallback"


async def run(lines, out=sys.stdout) -> None:
    from db.events import EventBoard
    from db.store import Store

    url = os.environ.get("DATABASE_URL", "").strip()
    with tempfile.TemporaryDirectory(prefix="tangqiao-converse-") as folder:
        if url:
            from bot.settings import normalise_database_url

            url = normalise_database_url(url)
        else:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'converse.db'}"
        clock = Clock()
        install(clock)
        store = await Store.open(url)
        services = replace(
            build_core(), store=store, clock=clock, events=EventBoard(store.engine),
            throttle=Throttle(clock=lambda: clock().timestamp()),
            tickets=TicketRules(moderation_chat=MODERATION_CHAT), staff=ListedStaff(frozenset({int(STAFF_ID)})))
        conversations = Conversations(services, clock)
        try:
            for line in lines:
                if not line.strip():
                    continue
                record = await conversations.event(json.loads(line))
                print(json.dumps(record, ensure_ascii=False), file=out, flush=True)
        finally:
            await store.close()


def main() -> int:
    import logging

    logging.getLogger().setLevel(logging.ERROR)  # the output is JSON lines; warnings go to stderr only when they matter
    asyncio.run(run(sys.stdin))
    return 0
