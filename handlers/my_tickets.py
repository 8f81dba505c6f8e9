"""A resident and their tickets: the list, one ticket's history, adding information, rating.

A resident only ever sees their own tickets: every lookup checks the owner, and a ticket of
someone else answers exactly like one that does not exist.

Button data: "mytickets", "tk:<id>" (open one), "tkadd:<id>" (add information),
"rate:<id>:<1-5>", "unsolved:<id>", "rcskip:<id>" (no comment).
"""
from __future__ import annotations

import json
import re

from db import tickets
from db.models import Resident, Ticket, TicketEvent
from handlers import complaint, notify
from handlers.dialogs import Turn
from handlers.rules.lifecycle import OPEN, Status, after_rating, may_rate
from handlers.services import Services
from handlers.types import Button, Outbound, Reply


def _actor(event: TicketEvent) -> str:
    return "resident" if event.actor == "resident" else "office"


def describe(event: TicketEvent, services: Services, lang: str) -> str:
    """One line of a ticket's public history, in the resident's words."""
    zh = lang != "en"
    if event.kind == "created":
        return "提交反映" if zh else "report submitted"
    if event.kind == "status":
        line = services.texts.status(event.to_status, lang)
        return f"{line}:{event.note}" if event.note else line
    if event.kind == "reply":
        return f"街道办答复:{event.note}" if zh else f"office replied: {event.note}"
    if event.kind == "message":
        return f"您补充:{event.note}" if zh else f"you added: {event.note}"
    if event.kind == "rating":
        return f"您的评价:{event.note}" if zh else f"your rating: {event.note}"
    return event.note


async def _own(services: Services, resident: Resident, ticket_id: str) -> Ticket | None:
    async with services.store.transaction() as session:
        ticket = await tickets.find(session, ticket_id) if ticket_id.isdigit() else None
        return ticket if ticket is not None and ticket.resident_id == resident.id else None


def _not_found(services: Services, lang: str) -> Reply:
    return Reply("ticket_status", [Outbound(services.texts.render("ticket_not_found", lang))], score=100)


async def list_tickets(lang: str, resident: Resident, services: Services) -> Reply:
    async with services.store.transaction() as session:
        mine = await tickets.of_resident(session, resident.id)
    buttons = tuple((Button(f"{t.number} · {services.texts.status(t.status, lang)}", f"tk:{t.id}"),)
                    for t in mine[:10])
    return Reply("ticket_status", [Outbound(services.texts.render("ticket_list", lang, tickets=mine), buttons)], score=100)


async def show(ticket_id: str, lang: str, resident: Resident, services: Services) -> Reply:
    ticket = await _own(services, resident, ticket_id)
    if ticket is None:
        return _not_found(services, lang)
    async with services.store.transaction() as session:
        events = await tickets.history(session, ticket.id, public_only=True)
    text = services.texts.render("ticket_detail", lang, ticket=ticket, events=events,
                                 describe=lambda e: describe(e, services, lang))
    buttons = ()
    if ticket.status in OPEN:
        buttons = ((Button(services.texts.label("add_info", lang), f"tkadd:{ticket.id}"),),)
    elif ticket.status == "resolved":
        buttons = notify.rating_buttons(services, ticket, lang)
    return Reply("ticket_status", [Outbound(text, buttons)], score=100)


async def ask_followup(ticket_id: str, turn: Turn) -> Reply:
    ticket = await _own(turn.services, turn.resident, ticket_id)
    if ticket is None:
        return _not_found(turn.services, turn.lang)
    turn.talk.enter("followup", "text", ticket=ticket.id, number=ticket.number)
    return Reply("info", [Outbound(turn.services.texts.render("followup_prompt", turn.lang, ticket=ticket))])


async def add_followup(ticket_id: int, turn: Turn) -> Reply:
    """The resident's message joins the ticket's history and goes to the staff."""
    services, inbound = turn.services, turn.inbound
    text = inbound.text.strip()[:2000] or ("(照片)" if inbound.photos else "")
    async with services.store.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.resident_id != turn.resident.id:
            turn.talk.leave()
            return _not_found(services, turn.lang)
        ticket.awaiting_resident = False
        if inbound.photos:
            pictures = json.loads(ticket.photos) + list(inbound.photos)
            ticket.photos = json.dumps(pictures)
        session.add(ticket)
        await tickets.add_event(session, ticket, "resident", "message", text)
        notify.to_staff(session, services, ticket, "followup", services.texts.render("staff_followup", "zh",
                                                                                    ticket=ticket, text=text))
        for file_id in inbound.photos:
            notify.to_staff(session, services, ticket, "photo", f"{ticket.number} 居民补充照片", photo=file_id)
    turn.talk.leave()
    return Reply("note", [Outbound(services.texts.render("followup_saved", turn.lang, ticket=ticket))])


# A question that is about the ticket itself ("你们什么时候来修?") answers staff; another is a new question.
_ABOUT_TICKET = re.compile(r"修|处理|工单|师傅|你们|什么时候|上门|来看|进度|多久|ticket|repair|fix|when will|you guys|your staff",
                           re.IGNORECASE)


_POLITE = re.compile(r"谢谢|谢了|多谢|感谢|好的|好吧|收到|知道了|辛苦了|麻烦了|麻烦您|您好|你好|好|嗯|哦|啊|呀|啦|了|"
                     r"\b(?:thanks|thank you|thx|ok|okay|hi|hello|got it|great)\b|[\s\W_]", re.IGNORECASE)


def answers_staff(turn: Turn) -> bool:
    """After a staff reply, whether the message answers it: not a greeting, not a new question."""
    if turn.inbound.photos:
        return True
    u = turn.understanding
    if not turn.text or (u is not None and u.kind in ("ticket_status", "emergency")):
        return False
    if u is not None and u.kind == "greeting":  # "3楼,谢谢" answers; "好的谢谢" does not
        return len(_POLITE.sub("", turn.text)) >= 2 or any(c.isdigit() for c in turn.text)
    new_question = u is not None and u.kind in ("answer", "clarify", "fallback") and complaint.is_question(turn.text)
    return not (new_question and not _ABOUT_TICKET.search(turn.text))


async def on_message(turn: Turn) -> Reply | None:
    """The answer to a step of the "rating", "followup" and "reply" dialogs (handlers/dialogs.py)."""
    ticket_id = turn.talk.filled.get("ticket")
    if turn.talk.dialog == "rating":
        return await add_comment(ticket_id, turn) if turn.text else None
    if turn.talk.dialog == "reply" and not answers_staff(turn):
        return None  # the resident moved on: the message is read as a new one
    if not (turn.text or turn.inbound.photos):
        return None
    return await add_followup(ticket_id, turn)


def ask_again(turn: Turn) -> list[Outbound]:
    number = turn.talk.filled.get("number", "")
    texts, lang = turn.services.texts, turn.lang
    if turn.talk.dialog == "rating":
        skip = ((Button(texts.label("skip", lang), f"rcskip:{turn.talk.filled.get('ticket')}"),),)
        return [Outbound(texts.render("comment_prompt", lang, number=number), skip)]
    return [Outbound(texts.render("followup_prompt", lang, ticket={"number": number}))]


async def latest_resolved(turn: Turn) -> int | None:
    """The id of the resident's newest ticket waiting for their rating, or None."""
    async with turn.services.store.transaction() as session:
        return next((t.id for t in await tickets.of_resident(session, turn.resident.id) if t.status == "resolved"), None)


async def awaiting_rating(turn: Turn) -> int | None:
    """The id of the resident's newest ticket resolved within the window in which it may be
    rated (and reopened), or None: "很满意,谢谢你们" then is its rating, not a new message."""
    rules = turn.services.tickets
    async with turn.services.store.transaction() as session:
        for ticket in await tickets.of_resident(session, turn.resident.id):
            if ticket.status == Status.resolved:  # the newest resolved one
                return ticket.id if may_rate(ticket, turn.services.clock(), rules.reopen_days) else None
    return None


async def rate(data: str, turn: Turn, comment: str | None = None) -> Reply:
    """A rating button: 1-5 stars, or "not solved". A low score within the reopen window
    reopens the ticket and alerts staff; otherwise the ticket is closed. `comment`: what the
    resident wrote with it ("没解决,井盖还是坏的"), kept as the rating's comment and sent to staff,
    so the comment is not asked for."""
    lang, resident, services = turn.lang, turn.resident, turn.services
    kind, _, rest = data.partition(":")
    ticket_id, _, stars = rest.partition(":")
    ticket = await _own(services, resident, ticket_id)
    if ticket is None:
        return _not_found(services, lang)
    texts, rules = services.texts, services.tickets
    score = 1 if kind == "unsolved" else int(stars) if stars.isdigit() and 1 <= int(stars) <= 5 else None
    if score is None:
        return _not_found(services, lang)
    async with services.store.transaction() as session:
        ticket = await session.get(Ticket, ticket.id)
        if not may_rate(ticket, services.clock(), rules.reopen_days):
            return Reply("info", [Outbound(texts.render("rating_late", lang, ticket=ticket))])
        ticket.rating = score
        note = "没解决" if kind == "unsolved" else f"{score}★"
        await tickets.add_event(session, ticket, "resident", "rating", note)
        to = after_rating(score)
        reopened = to == Status.in_progress
        await tickets.change_status(session, ticket, to, "resident", f"居民评价 {note},重新打开" if reopened else f"居民评价 {note}",
                                    now=services.clock())
        if reopened:
            notify.to_staff(session, services, ticket, "alert", texts.render(
                "staff_alert", "zh", ticket=ticket, message=f"居民评价 {note},工单已重新打开,请跟进。"))
        if comment:
            ticket.rating_comment = comment[:1000]
            await tickets.add_event(session, ticket, "resident", "rating", ticket.rating_comment)
            notify.to_staff(session, services, ticket, "followup", texts.render(
                "staff_followup", "zh", ticket=ticket, text=ticket.rating_comment))
        session.add(ticket)
    if comment:  # a rating in words: what they wrote is the ticket's comment
        return Reply("note", [Outbound(texts.render("rating_thanks", lang, ticket=ticket, reopened=reopened, ask_comment=False))])
    turn.talk.enter("rating", "comment", ticket=ticket.id, number=ticket.number)
    skip = ((Button(texts.label("skip", lang), f"rcskip:{ticket.id}"),),)
    return Reply("info", [Outbound(texts.render("rating_thanks", lang, ticket=ticket, reopened=reopened, ask_comment=True),
                                   skip)])


async def add_comment(ticket_id: int, turn: Turn) -> Reply:
    services = turn.services
    async with services.store.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is not None and ticket.resident_id == turn.resident.id:
            ticket.rating_comment = turn.text[:1000]
            session.add(ticket)
            await tickets.add_event(session, ticket, "resident", "rating", ticket.rating_comment)
            if ticket.status == "in_progress":  # reopened: the comment says what is still wrong
                notify.to_staff(session, services, ticket, "followup", services.texts.render(
                    "staff_followup", "zh", ticket=ticket, text=ticket.rating_comment))
    turn.talk.leave()
    return Reply("note", [Outbound(services.texts.render("feedback", turn.lang, helpful=True))])
