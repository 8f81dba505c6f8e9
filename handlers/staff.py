"""The staff side, in the moderation chat: ticket commands, and replies that reach residents.

Only members of the moderation chat and the ids in STAFF_IDS may use these commands
(`services.staff`); anyone else gets a polite refusal and nothing changes.

A reply to a ticket's card (or to any message of ours about it), or a message in the ticket's
forum topic, goes to the resident, prefixed as coming from the office. The commands (/open,
/ticket N, /status N <state> <note>, ...) are in the table of handlers/commands.py, each answered
by a function below; N is a ticket number (TQ-2611-0042) or its short id (42).
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from db import tickets
from db.clock import aware
from db.models import Resident, Ticket
from handlers import canned, commands, notify, reports, staff_events
from handlers.masking import mask_text
from handlers.my_tickets import describe
from handlers.rules.deadlines import is_late
from handlers.rules.lifecycle import OPEN, STAFF_MOVES, TransitionError
from handlers.services import Services
from handlers.types import Button, Inbound, Outbound, Reply

if TYPE_CHECKING:
    from db.store import Session

TICKET_NUMBER = re.compile(r"TQ-\d{4}-\d{4,}")
RESENT_WITHIN = timedelta(minutes=10)


def _say(services: Services, what: str, **values) -> Reply:
    """One of the staff messages of content/templates/staff_says.j2."""
    return Reply("info", [Outbound(services.texts.render("staff_says", "zh", what=what, **values))])


def _usage(services: Services, inbound: Inbound, hint: str = "") -> Reply:
    """How the command staff wrote is written (handlers/commands.py)."""
    return _say(services, "usage", usage=commands.STAFF[commands.parse(inbound.text).name].usage, hint=hint)


def _status(services: Services, state: str, keyword: bool = False) -> str:
    """A status as residents and the export name it; with `keyword`, also as /status takes it."""
    name = services.texts.status(state, "zh")
    return f"{name}({state})" if keyword else name


def _actor(inbound: Inbound) -> str:
    return f"staff:{inbound.user_id} {inbound.user_name or ''}".strip()


async def handle(inbound: Inbound, services: Services) -> Reply:
    """A message in the moderation chat, or a staff command anywhere."""
    staff = services.staff is not None and await services.staff.is_staff(inbound.channel, inbound.user_id)
    if inbound.callback is not None or commands.is_staff_command(inbound.text):
        if not staff:
            return Reply("info", [Outbound(services.texts.render("staff_refused", "zh"))])
        return await (_button(inbound, services) if inbound.callback is not None else _command(inbound, services))
    if not staff:
        return Reply("info", [])
    async with services.store.transaction() as session:
        ticket = None
        if inbound.reply_to:
            ticket = await tickets.by_relay(session, inbound.chat_id, inbound.reply_to)
        if ticket is None and inbound.thread_id:
            ticket = await tickets.by_thread(session, inbound.thread_id)
        if ticket is None and inbound.reply_text and (number := TICKET_NUMBER.search(inbound.reply_text)):
            ticket = await tickets.find(session, number.group(0))  # a card sent just before a crash, unrecorded
    if ticket is None and (reply := await staff_events.on_message(inbound, services)) is not None:
        return reply  # the next answer of the staff member's /event dialog
    if ticket is None or not (inbound.text.strip() or inbound.photos):
        return Reply("info", [])  # staff talking among themselves
    return await relay_reply(ticket, inbound.text.strip(), _actor(inbound), services, inbound.photos)


async def relay_reply(ticket: Ticket, text: str, actor: str, services: Services, photos: tuple[str, ...] = ()) -> Reply:
    """A staff reply: into the ticket's history and, through the outbox, to the resident.
    Photos go along to residents of a channel that takes the moderation chat's (Telegram's file ids)."""
    forwarded = photos if services.can(ticket.channel).staff_photos else ()
    async with services.store.transaction() as session:
        ticket = await session.get(Ticket, ticket.id)
        resident = await session.get(Resident, ticket.resident_id)
        lang = await notify.language(session, services, ticket, resident)
        body = text or ("(照片)" if lang != "en" else "(photo)")
        if await tickets.recent_reply(session, ticket.id, actor, body, within=RESENT_WITHIN, now=services.clock()):
            # the same reply again: our confirmation of the first was lost (a crash, a network
            # error) and the staff member sent it once more. The resident gets it once.
            return _say(services, "relayed", ticket=ticket, again=True)
        await tickets.add_event(session, ticket, actor, "reply", body)
        ticket.first_response_at = ticket.first_response_at or services.clock()
        ticket.awaiting_resident = ticket.status in OPEN
        session.add(ticket)
        if ticket.awaiting_resident:
            await notify.waiting_for_answer(session, services, ticket, resident)
        queued = notify.to_resident(session, services, ticket, resident, "reply",
                                    services.texts.render("staff_reply", lang, ticket=ticket, text=body))
        _tell_the_chat(session, services, ticket, actor, "reply", body)
        for file_id in forwarded if queued else ():
            notify.to_resident(session, services, ticket, resident, "photo", "", photo=file_id)
    if not queued:
        return _say(services, "blocked", ticket=ticket)
    return _say(services, "relayed", ticket=ticket, photos_lost=bool(photos and not forwarded))


def _tell_the_chat(session: Session, services: Services, ticket: Ticket, actor: str, what: str, text: str) -> None:
    """What staff did outside the moderation chat (in the web console) goes under the ticket's
    card there, so those working in Telegram see it; what they did in the chat, all saw."""
    if not actor.startswith("staff:"):
        notify.to_staff(session, services, ticket, "console",
                        services.texts.render("staff_console", "zh", ticket=ticket, actor=actor, what=what, text=text))


async def _command(inbound: Inbound, services: Services) -> Reply:
    parsed = commands.parse(inbound.text)
    return await commands.handler(commands.STAFF[parsed.name])(inbound, parsed.argument.split(), services)


def _about_ticket(act: Callable[[Inbound, Ticket, list[str], Services], Awaitable[Reply]]):
    """A command about ticket N, its first word: the ticket found, then `act` with the words after N."""
    async def command(inbound: Inbound, args: list[str], services: Services) -> Reply:
        if not args:
            return _usage(services, inbound)
        async with services.store.transaction() as session:
            ticket = await tickets.find(session, args[0])
        if ticket is None:
            return _say(services, "not_found", number=args[0])
        return await act(inbound, ticket, args[1:], services)
    return command


@_about_ticket
async def show(inbound: Inbound, ticket: Ticket, args: list[str], services: Services) -> Reply:
    """/ticket N: the ticket with its whole history, internal notes too."""
    async with services.store.transaction() as session:
        events = await tickets.history(session, ticket.id, public_only=False)
    text = services.texts.render("staff_ticket", "zh", ticket=ticket, events=events,
                                 describe=lambda e: describe(e, services, "zh"), **_views(services))
    return Reply("info", [Outbound(mask_text(text))])  # the chat is outside China: no phone or ID number in it


@_about_ticket
async def assign_command(inbound: Inbound, ticket: Ticket, args: list[str], services: Services) -> Reply:
    name = " ".join(args).strip()
    return await assign(ticket, name, _actor(inbound), services) if name else _usage(services, inbound)


@_about_ticket
async def status_command(inbound: Inbound, ticket: Ticket, args: list[str], services: Services) -> Reply:
    state, note = (args[0] if args else ""), " ".join(args[1:]).strip()
    if state not in STAFF_MOVES or not note:
        return _usage(services, inbound, "(说明必填,会发给居民)")
    if state == "rejected" and not notify.gives_reason(note):  # the resident is owed the reason
        return _usage(services, inbound, "(不予受理必须写明原因,会发给居民,例如:不属于街道职责,请联系物业)")
    return await change_status(ticket, state, note, _actor(inbound), services)


@_about_ticket
async def note_command(inbound: Inbound, ticket: Ticket, args: list[str], services: Services) -> Reply:
    note = " ".join(args).strip()
    return await add_note(ticket, note, _actor(inbound), services) if note else _usage(services, inbound)


@_about_ticket
async def dup_command(inbound: Inbound, ticket: Ticket, args: list[str], services: Services) -> Reply:
    async with services.store.transaction() as session:
        target = await tickets.find(session, args[0]) if args else None
    if target is None or target.id == ticket.id:
        return _usage(services, inbound, "(M 是另一张工单)")
    return await mark_duplicate(ticket, target, _actor(inbound), services)


@_about_ticket
async def reopen_command(inbound: Inbound, ticket: Ticket, args: list[str], services: Services) -> Reply:
    return await change_status(ticket, "in_progress", " ".join(args).strip() or "工单重新打开", _actor(inbound), services)


@_about_ticket
async def category_command(inbound: Inbound, ticket: Ticket, args: list[str], services: Services) -> Reply:
    category = args[0] if args else ""
    if category not in services.categories.by_id:
        return _usage(services, inbound, f";类别:{', '.join(services.categories.by_id)}")
    return await change_category(ticket, category, _actor(inbound), services)


@_about_ticket
async def canned_command(inbound: Inbound, ticket: Ticket, args: list[str], services: Services) -> Reply:
    name = args[0] if args else ""
    found = await canned.replies(services)  # the files of content/templates/canned/ and the office's edits
    if name not in found:
        return _usage(services, inbound, f";模板:{', '.join(found)}")
    return await relay_reply(ticket, found[name].text, _actor(inbound), services)


async def event(inbound: Inbound, args: list[str], services: Services) -> Reply:
    """/event: the office's events (handlers/staff_events.py)."""
    return await staff_events.command(inbound, args, services)


async def _button(inbound: Inbound, services: Services) -> Reply:
    """A button on a card: "dup:<id>:<original id>" merges a likely duplicate, "undup:<id>" undoes it."""
    kind, _, ids = inbound.callback.partition(":")
    if kind.startswith("ev"):
        return await staff_events.on_button(inbound, services)
    async with services.store.transaction() as session:
        found = [await session.get(Ticket, int(i)) if i.isdigit() else None for i in ids.split(":")]
    if kind == "dup" and len(found) == 2 and None not in found:
        return await mark_duplicate(found[0], found[1], _actor(inbound), services)
    if kind == "undup" and len(found) == 1 and found[0] is not None:
        return await undo_duplicate(found[0], _actor(inbound), services)
    return Reply("info", [])


async def assign(ticket: Ticket, name: str, actor: str, services: Services) -> Reply:
    """Who handles the ticket: an internal event, the resident is not told; the assignee is (notify.assigned)."""
    async with services.store.transaction() as session:
        ticket = await session.get(Ticket, ticket.id)
        ticket.assignee = name[:64]
        session.add(ticket)
        await tickets.add_event(session, ticket, actor, "assign", name, public=False)
        await notify.assigned(session, services, ticket, name, actor)
    return _say(services, "assigned", ticket=ticket, assignee=name)


async def add_note(ticket: Ticket, note: str, actor: str, services: Services) -> Reply:
    """An internal note, never sent to the resident."""
    async with services.store.transaction() as session:
        await tickets.add_event(session, ticket, actor, "note", note, public=False)
    return _say(services, "noted", ticket=ticket)


async def change_category(ticket: Ticket, category: str, actor: str, services: Services) -> Reply:
    """Staff correct the guessed category (an internal event)."""
    async with services.store.transaction() as session:
        ticket = await session.get(Ticket, ticket.id)
        await tickets.add_event(session, ticket, actor, "category", f"{ticket.category} -> {category}", public=False)
        ticket.category = category
        session.add(ticket)
    return _say(services, "category", ticket=ticket, category=services.categories.title(category, "zh"))


async def change_status(ticket: Ticket, state: str, note: str, actor: str, services: Services) -> Reply:
    async with services.store.transaction() as session:
        ticket = await session.get(Ticket, ticket.id)
        try:
            before = await tickets.change_status(session, ticket, state, actor, note, now=services.clock())
        except TransitionError:
            return _say(services, "cannot_change", ticket=ticket, now=_status(services, ticket.status, True),
                        wanted=_status(services, state, True))
        ticket.awaiting_resident = False
        resident = await session.get(Resident, ticket.resident_id)
        await notify.status_notice(session, services, ticket, resident, note)
        _tell_the_chat(session, services, ticket, actor, "status", note)
    return _say(services, "changed", ticket=ticket, before=_status(services, before), after=_status(services, state, True))


async def mark_duplicate(ticket: Ticket, target: Ticket, actor: str, services: Services) -> Reply:
    async with services.store.transaction() as session:
        ticket = await session.get(Ticket, ticket.id)
        try:
            await tickets.change_status(session, ticket, "duplicate", actor, f"与 {target.number} 相同,合并处理",
                                        now=services.clock())
        except TransitionError:
            return _say(services, "cannot_merge", ticket=ticket, now=_status(services, ticket.status))
        ticket.duplicate_of = target.id
        resident = await session.get(Resident, ticket.resident_id)
        await notify.status_notice(session, services, ticket, resident, f"与 {target.number} 相同,合并处理")
    undo = ((Button("↩ 撤销合并", f"undup:{ticket.id}"),),)
    text = services.texts.render("staff_says", "zh", what="merged", ticket=ticket, target=target)
    return Reply("info", [Outbound(text, undo)])


async def undo_duplicate(ticket: Ticket, actor: str, services: Services) -> Reply:
    note = "经核实不是重复,单独处理"
    async with services.store.transaction() as session:
        ticket = await session.get(Ticket, ticket.id)
        try:
            back = await tickets.undo_duplicate(session, ticket, actor, note)
        except TransitionError:
            return _say(services, "cannot_unmerge", ticket=ticket, now=_status(services, ticket.status))
        resident = await session.get(Resident, ticket.resident_id)
        await notify.status_notice(session, services, ticket, resident, note)
    return _say(services, "unmerged", ticket=ticket, back=_status(services, back))


def _age(moment: datetime, now: datetime) -> str:
    hours = (now - aware(moment)).total_seconds() / 3600
    return f"{hours:.0f}小时" if hours < 48 else f"{hours / 24:.0f}天"


def _views(services: Services) -> dict:
    """What the list templates use to name a ticket's category and status."""
    return dict(category_of=lambda c: services.categories.title(c, "zh"), status=lambda state: _status(services, state))


async def open_tickets(inbound: Inbound, args: list[str], services: Services) -> Reply:
    """/open: the open tickets, oldest first."""
    async with services.store.transaction() as session:
        rows = await tickets.open_tickets(session)
    now = services.clock()
    text = services.texts.render("staff_open", "zh", tickets=rows, age=lambda moment: _age(moment, now),
                                 late=lambda t: is_late(t, now),
                                 **_views(services))
    return Reply("info", [Outbound(mask_text(text))])  # the chat is outside China: no phone or ID number in it


async def stats(inbound: Inbound, args: list[str], services: Services) -> Reply:
    """/stats: counts by status and category, overdue tickets."""
    async with services.store.transaction() as session:
        figures = await tickets.stats(session, services.clock())
    text = services.texts.render("staff_stats", "zh", by_status=sorted(figures.by_status.items()),
                                 by_category=sorted(figures.by_category.items(), key=lambda kv: -kv[1]),
                                 overdue=figures.overdue, **_views(services))
    return Reply("info", [Outbound(text)])


async def export(inbound: Inbound, args: list[str], services: Services) -> Reply:
    """/export [from to]: the export of last week (or of these days, YYYY-MM-DD), as files here."""
    if services.exporter is None:
        return _say(services, "no_export")
    try:
        start, end = reports.parse_range(args[0] if args else None, args[1] if len(args) > 1 else None,
                                         reports.today_in_shanghai(), names=("开始日期", "结束日期"))
    except reports.ExportInputError as exc:
        return _say(services, "export_usage", error=str(exc))
    await reports.post_export(services, start, end, made_by="moderation chat")
    return _say(services, "exporting", start=start, end=end)
