"""Complaint intake: what happened, where, photos, phone (with consent), confirm -> ticket.

The half-filled report is an `Intake` row, so a restart of the bot continues where the
resident was, on any channel. The ticket is written (with its card for the moderation chat,
in the same transaction) before the resident sees its number.

Steps and what the resident sees:
- what:    "What happened?" (skipped when a complaint-like message started the intake)
- where:   "Where is it?" text, or a location pin on Telegram
- photos:  up to 5 photos, then Done / Skip
- phone:   optional phone with an explicit consent line, or Skip; asked for each report, as the
           consent is for that report only (Skip: no phone on this ticket)
- confirm: a summary with Submit / Edit description / Edit place / Cancel
Button data: "ik:skip", "ik:done", "ik:submit", "ik:what", "ik:where", "ik:cancel".
"""
from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from db import tickets
from db.models import Intake, Resident, Ticket, utcnow
from handlers import notify
from handlers.services import Services
from handlers.types import Button, Inbound, Outbound, Reply

MAX_PHOTOS = 5
MIN_TEXT = 4  # characters: "有人吵" is too little to act on
MAX_TEXT = 2000
# Words that ask to report without saying what happened: "我要投诉" alone starts the intake at
# "what happened?" instead of becoming the ticket's text.
_REQUEST_ONLY = re.compile(
    r"我|要|想|需要|请|帮|麻烦|你好|您好|一下|个|件|投诉|举报|反映|报修|报告|问题|情况|事情|事|怎么|如何|哪里|可以|能|吗|呢|啊|吧|了"
    r"|\b(?:i|i'd|want|would|like|need|to|make|file|lodge|a|an|complaint|complain|report|problem|issue|please|how|do|can|about)\b"
    r"|[\s\W_]", re.IGNORECASE)
_PHONE_RE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$|^(?:021)?(\d{8})$")


_LABELS = {"what": "edit_what", "where": "edit_where"}  # the actions whose label differs from their name


def _buttons(services: Services, lang: str, *actions: str) -> tuple[tuple[Button, ...], ...]:
    """One row of intake buttons; "ik:<action>" comes back when pressed."""
    return (tuple(Button(services.texts.label(_LABELS.get(a, a), lang), f"ik:{a}") for a in actions),)


async def _load(session: AsyncSession, resident: Resident) -> Intake | None:
    # locked until the step's transaction ends: two messages of one resident handled at once
    # (an album on WeChat, two processes) change it one after the other, nothing overwritten
    return await session.get(Intake, resident.id, with_for_update=True)


async def start(inbound: Inbound, lang: str, resident: Resident, services: Services, first_text: str = "") -> Reply:
    """Begin a report; a complaint-like first message already says what happened."""
    if resident.awaiting == "message":  # a message asked for earlier is not this report's text
        await services.store.update_resident(resident.id, awaiting=None)
    async with services.store.transaction() as session:
        intake = await _load(session, resident) or Intake(resident_id=resident.id, step="what")
        intake.step, intake.started_at = "what", utcnow()
        # consent is per report: a phone given for an earlier one is not reused
        intake.text, intake.place, intake.photos, intake.latitude, intake.longitude = "", "", "[]", None, None
        intake.phone, intake.spoken = None, False
        session.add(intake)
        if says_what_happened(first_text):
            intake.text, intake.spoken = first_text.strip()[:MAX_TEXT], inbound.spoken
            intake.step = "where"
        _take_attachments(intake, inbound)
        return _prompt(intake, lang, inbound, services)


def says_what_happened(text: str) -> bool:
    """Enough to act on, and more than a request to report ("我要投诉" alone is not)."""
    return len(text.strip()) >= MIN_TEXT and len(_REQUEST_ONLY.sub("", text)) >= 2


async def active(services: Services, resident: Resident) -> bool:
    async with services.store.transaction() as session:
        return await _load(session, resident) is not None


async def cancel(services: Services, resident: Resident) -> bool:
    async with services.store.transaction() as session:
        intake = await _load(session, resident)
        if intake is not None:
            await session.delete(intake)
        return intake is not None


def _take_attachments(intake: Intake, inbound: Inbound) -> None:
    """Photos and a location pin are welcome at any step."""
    if inbound.photos:
        pictures = json.loads(intake.photos)
        pictures += [p for p in inbound.photos if p not in pictures]
        intake.photos = json.dumps(pictures[:MAX_PHOTOS])
    if inbound.location:
        intake.latitude, intake.longitude = inbound.location


def _prompt(intake: Intake, lang: str, inbound: Inbound, services: Services, **values) -> Reply:
    texts = services.texts
    pin = services.can(inbound.channel).location_pins
    # The free-text steps have no buttons: on WeChat and the console buttons are numbered
    # choices, and a resident typing "1" as a building number must not press one.
    if intake.step in ("what", "edit_what"):
        message = Outbound(texts.render("intake_what", lang))
    elif intake.step in ("where", "edit_where"):
        message = Outbound(texts.render("intake_where", lang, pin=pin, **values))
    elif intake.step == "photos":
        count = len(json.loads(intake.photos))
        names = ("done", "cancel") if count else ("skip", "cancel")
        message = Outbound(texts.render("intake_photos", lang, count=count, limit=MAX_PHOTOS), _buttons(services, lang, *names))
    elif intake.step == "phone":
        message = Outbound(texts.render("intake_phone", lang, **values), _buttons(services, lang, "skip", "cancel"))
    else:
        place = intake.place or ""
        if intake.latitude is not None:
            place = f"{place} ({intake.latitude:.5f}, {intake.longitude:.5f})".strip()
        summary = texts.render("intake_confirm", lang, intake=intake, place=place, photos=len(json.loads(intake.photos)))
        buttons = (*_buttons(services, lang, "submit"), *_buttons(services, lang, "what", "where"),
                   *_buttons(services, lang, "cancel"))
        message = Outbound(summary, buttons)
    return Reply("complaint", [message], score=100)


_QUESTION = re.compile(r"[?？]|吗|伐|怎么|怎样|如何|哪里|哪儿|哪个|什么|几点|多少|啥|是否|能不能|可不可以|有没有|"
                       r"^\s*(how|what|where|when|who|which|is|are|can|could|do|does|will)\b", re.IGNORECASE)


def is_question(text: str) -> bool:
    return bool(_QUESTION.search(text))


async def reminder(inbound: Inbound, lang: str, resident: Resident, services: Services) -> Reply | None:
    """The open report's current question again, after the resident asked something else
    on the way; None when no report is open or it is still at "what happened" (there a
    question is the report: "为什么路灯一直不修?")."""
    async with services.store.transaction() as session:
        intake = await session.get(Intake, resident.id)
        if intake is None or intake.step in ("what", "edit_what"):
            return None
        prompt = _prompt(intake, lang, inbound, services)
    return Reply("complaint", [Outbound(services.texts.render("intake_paused", lang)), *prompt.messages], score=100)


async def on_message(inbound: Inbound, lang: str, resident: Resident, services: Services) -> Reply | None:
    """A message while an intake is open; None when there is none."""
    async with services.store.transaction() as session:
        intake = await _load(session, resident)
        if intake is None:
            return None
        _take_attachments(intake, inbound)
        text = inbound.text.strip()
        values = {}
        if intake.step in ("what", "edit_what"):
            if len(text) < MIN_TEXT:
                return Reply("complaint", [Outbound(services.texts.render("intake_too_short", lang))], score=100)
            intake.text, intake.spoken = text[:MAX_TEXT], inbound.spoken
            intake.step = "confirm" if intake.step == "edit_what" else "where"
        elif intake.step in ("where", "edit_where"):
            if text:
                intake.place = text[:500]
            if intake.place or intake.latitude is not None:
                intake.step = "confirm" if intake.step == "edit_where" else "photos"
            else:
                values["again"] = True
        elif intake.step == "photos":
            if len(json.loads(intake.photos)) >= MAX_PHOTOS:
                intake.step = "phone"
        elif intake.step == "phone":
            phone = normalise_phone(text)
            if phone is None:
                values["invalid"] = True
            else:
                intake.phone = phone
                intake.step = "confirm"
        session.add(intake)
        return _prompt(intake, lang, inbound, services, **values)


def normalise_phone(text: str) -> str | None:
    """A mainland mobile (11 digits) or a Shanghai landline (8 digits), or None."""
    match = _PHONE_RE.match(re.sub(r"[\s\-()]", "", text))
    return next((g for g in match.groups() if g), None) if match else None


async def on_button(data: str, inbound: Inbound, lang: str, resident: Resident, services: Services) -> Reply:
    action = data.partition(":")[2]
    if action == "cancel":
        await cancel(services, resident)
        return Reply("info", [Outbound(services.texts.render("cancelled", lang))])
    if action == "submit":
        return await submit(inbound, lang, resident, services)
    async with services.store.transaction() as session:
        intake = await _load(session, resident)
        if intake is None:  # a button of a report already sent or cancelled
            return Reply("info", [Outbound(services.texts.render("cancelled", lang))])
        if action in ("skip", "done"):
            intake.step = {"photos": "phone", "phone": "confirm"}.get(intake.step, "confirm")
        elif action in ("what", "where"):
            intake.step = f"edit_{action}"
        session.add(intake)
        return _prompt(intake, lang, inbound, services)


async def submit(inbound: Inbound, lang: str, resident: Resident, services: Services) -> Reply:
    """Write the ticket (and its card) and only then tell the resident its number."""
    rules, texts = services.tickets, services.texts
    async with services.store.transaction() as session:
        intake = await _load(session, resident)
        if intake is None:  # Submit pressed again: show the ticket it made, if it was just now
            mine = await tickets.of_resident(session, resident.id)
            if mine and utcnow() - mine[0].created_at < timedelta(minutes=10):
                return _created_reply(mine[0], lang, services)
            return Reply("info", [Outbound(texts.render("cancelled", lang))])
        if intake.step != "confirm":
            return _prompt(intake, lang, inbound, services)
        source_key = f"intake:{resident.id}:{intake.started_at.isoformat()}"
        if existing := await tickets.by_source(session, source_key):
            return _created_reply(existing, lang, services)
        now = utcnow()
        if await tickets.created_since(session, resident.id, now - timedelta(days=1)) >= rules.per_day:
            return Reply("complaint", [Outbound(texts.render("ticket_limit", lang, limit=rules.per_day))], score=100)
        category = services.categories.guess(f"{intake.text} {intake.place}")
        older = await tickets.find_duplicate(session, category, intake.place, intake.text)
        ticket = await tickets.create(
            session, source_key=source_key, resident_id=resident.id, channel=inbound.channel,
            chat_id=inbound.chat_id, category=category, text=intake.text, place=intake.place,
            latitude=intake.latitude, longitude=intake.longitude, photos=intake.photos, phone=intake.phone,
            spoken=intake.spoken, created_at=now, response_due=rules.calendar.add_working_days(now, rules.response_days),
            resolution_due=rules.calendar.add_working_days(now, rules.resolution_days),
        )
        if older is not None:  # flagged for staff on the card, never merged unseen
            await tickets.add_event(session, ticket, "system", "duplicate", f"疑似与 {older.number} 重复", public=False)
        notify.card(session, services, ticket, likely_duplicate=older)
        await session.delete(intake)
    return _created_reply(ticket, lang, services)


def _created_reply(ticket: Ticket, lang: str, services: Services) -> Reply:
    texts = services.texts
    text = texts.render("ticket_created", lang, ticket=ticket, category=services.categories.title(ticket.category, lang))
    buttons = ((Button(texts.label("my_tickets", lang), "mytickets"),),)
    return Reply("complaint", [Outbound(text, buttons)], score=100)
