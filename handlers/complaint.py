"""Complaint intake: what happened, where, photos, phone (with consent), confirm -> ticket.

The half-filled report is the resident's conversation record (dialog "complaint", its steps
declared in handlers/dialogs.py), so a restart of the bot continues where the resident was. A
report left longer than the dialog's timeout is parked as a draft, and the resident is offered
to finish it the next time they write. The ticket is written (with its card for the moderation
chat, in the same transaction) before the resident sees its number.

Steps and what the resident sees:
- what:    "What happened?" (skipped when a complaint-like message started the intake)
- where:   "Where is it?" text, or a location pin (skipped when the first message named the place:
           a road with its lane or number, a building, an estate; in English "lane 91" too); pinyin
           ("91 nong 5 hao lou") is kept as the Chinese it spells with what was typed beside it
- photos:  up to 5 photos, then Done / Skip ("没有照片", "没拍", "no photo" skip too)
- phone:   optional phone with an explicit consent line, or Skip ("不留了", "电话不留", "skip"); asked
           for each report, as the consent is for that report only (Skip: no phone on this ticket)
- confirm: a summary with Submit / Edit description / Edit place / Cancel ("提交", "对的", "yes" submit)
At any step: "算了,不投诉了" / "never mind" cancels; "不对,是5号楼不是3号楼" changes the place;
"问题描述我要改一下" asks for the description again.
Button data: "ik:skip", "ik:done", "ik:submit", "ik:what", "ik:where", "ik:cancel", "ik:resume", "ik:discard".
"""
from __future__ import annotations

import json
import re
import unicodedata
from datetime import timedelta

from db import tickets
from db.clock import aware
from db.models import Ticket
from handlers import dialogs, notify, places
from handlers.dialogs import Turn
from handlers.rules.deadlines import limits
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
_EMPTY = {"text": "", "place": "", "photos": [], "latitude": None, "longitude": None, "phone": None, "spoken": False}


def _buttons(services: Services, lang: str, *actions: str) -> tuple[tuple[Button, ...], ...]:
    """One row of intake buttons; "ik:<action>" comes back when pressed."""
    return (tuple(Button(services.texts.label(_LABELS.get(a, a), lang), f"ik:{a}") for a in actions),)


def start(turn: Turn, first_text: str = "") -> Reply:
    """Begin a report; a complaint-like first message already says what happened (and maybe where)."""
    talk = turn.talk
    # consent is per report: a phone given for an earlier one is not reused
    talk.enter("complaint", "what", **_EMPTY, started=turn.services.clock().isoformat())
    report = talk.filled
    if says_what_happened(first_text):
        report["text"], report["spoken"] = first_text.strip()[:MAX_TEXT], turn.inbound.spoken
        report["place"] = places.in_report(first_text) or ""
        talk.step = "photos" if report["place"] else "where"
    _take_attachments(report, turn.inbound)
    return _prompt(turn)


def says_what_happened(text: str) -> bool:
    """Enough to act on, and more than a request to report ("我要投诉" alone is not)."""
    return len(text.strip()) >= MIN_TEXT and len(_REQUEST_ONLY.sub("", text)) >= 2


def _take_attachments(report: dict, inbound: Inbound) -> None:
    """Photos and a location pin are welcome at any step."""
    if inbound.photos:
        pictures = report.setdefault("photos", [])
        pictures += [p for p in inbound.photos if p not in pictures]
        report["photos"] = pictures[:MAX_PHOTOS]
    if inbound.location:
        report["latitude"], report["longitude"] = inbound.location


def _place(report: dict) -> str:
    place = report.get("place") or ""
    if report.get("latitude") is not None:
        pin = f"{report['latitude']:.5f}, {report['longitude']:.5f}"
        place = place if pin in place else f"{place} ({pin})".strip()
    return place


def _prompt(turn: Turn, **values) -> Reply:
    return Reply("complaint", [_question(turn, **values)], score=100)


def _question(turn: Turn, **values) -> Outbound:
    """The current step's question."""
    texts, lang, services, report = turn.services.texts, turn.lang, turn.services, turn.talk.filled
    pin = services.can(turn.inbound.channel).location_pins
    step = turn.talk.step
    # The free-text steps have no buttons: on WeChat and the console buttons are numbered
    # choices, and a resident typing "1" as a building number must not press one.
    if step in ("what", "edit_what"):
        return Outbound(texts.render("intake_what", lang))
    if step in ("where", "edit_where"):
        return Outbound(texts.render("intake_where", lang, pin=pin, **values))
    if step == "photos":
        count = len(report.get("photos", []))
        names = ("done", "cancel") if count else ("skip", "cancel")
        return Outbound(texts.render("intake_photos", lang, count=count, limit=MAX_PHOTOS), _buttons(services, lang, *names))
    if step == "phone":
        return Outbound(texts.render("intake_phone", lang, **values), _buttons(services, lang, "skip", "cancel"))
    summary = texts.render("intake_confirm", lang, intake=report, place=_place(report), photos=len(report.get("photos", [])))
    buttons = (*_buttons(services, lang, "submit"), *_buttons(services, lang, "what", "where"),
               *_buttons(services, lang, "cancel"))
    return Outbound(summary, buttons)


_QUESTION = re.compile(r"[?？]|吗|伐|怎么|怎样|如何|哪里|哪儿|哪个|什么|几点|多少|啥|是否|能不能|可不可以|有没有|"
                       r"^\s*(how|what|where|when|who|which|is|are|can|could|do|does|will)\b", re.IGNORECASE)


def is_question(text: str) -> bool:
    return bool(_QUESTION.search(text))


def ask_again(turn: Turn) -> list[Outbound]:
    """The open report's current question again, after the resident asked something else on the way."""
    return [Outbound(turn.services.texts.render("intake_paused", turn.lang)), _question(turn)]


def cancelled(turn: Turn) -> Reply:
    turn.talk.leave()
    return Reply("cancel", [Outbound(turn.services.texts.render("cancelled", turn.lang))])


async def on_message(turn: Turn) -> Reply | None:
    """A message while the report is open. None: a question asked at the place step, which the
    router answers before asking for the place again."""
    talk, report, text = turn.talk, turn.talk.filled, turn.text
    _take_attachments(report, turn.inbound)
    step = talk.step
    if dialogs.is_cancel(text):
        return cancelled(turn)
    if step not in ("what", "edit_what", "where", "edit_where") and dialogs.is_correction(text):
        if (reply := _correct(turn)) is not None:
            return reply
    if step in ("what", "edit_what"):
        if len(text) < MIN_TEXT:
            return Reply("complaint", [Outbound(turn.services.texts.render("intake_too_short", turn.lang))], score=100)
        report["text"], report["spoken"] = text[:MAX_TEXT], turn.inbound.spoken
        if step == "edit_what":
            talk.step = "confirm"
        elif not report.get("place") and (named := places.in_report(text)):
            report["place"], talk.step = named, "photos"
        else:
            talk.step = "photos" if report.get("place") else "where"
    elif step in ("where", "edit_where"):
        if text and is_question(text) and not places.looks_like_place(text):
            return None
        if dialogs.is_correction(text):
            text = (places.corrected(report["place"], text) if report.get("place") else None) or places.without_lead(text)
        if text:
            report["place"] = _place_read(turn, text)[:500]
        elif report.get("latitude") is not None and not report.get("place"):
            report["place"] = f"{report['latitude']:.5f}, {report['longitude']:.5f}"
        if not report.get("place"):
            return _prompt(turn, again=True)
        talk.step = "confirm" if step == "edit_where" else "photos"
    elif step == "photos":
        phone = normalise_phone(text) if text else None
        if phone is not None:
            report["phone"], talk.step = phone, "confirm"
        elif dialogs.is_skip(text) or dialogs.is_done(text) or len(report.get("photos", [])) >= MAX_PHOTOS:
            talk.step = _skipped(step)
        elif dialogs.is_submit(text):
            talk.step = "confirm"
    elif step == "phone":
        phone = normalise_phone(text)
        if phone is not None:
            report["phone"], talk.step = phone, "confirm"
        elif dialogs.is_skip(text) or dialogs.is_submit(text) or dialogs.is_done(text):
            talk.step = _skipped(step)
        elif text:
            return _prompt(turn, invalid=True)
    elif step == "confirm" and dialogs.is_submit(text):
        return await submit(turn)
    return _prompt(turn)


def _place_read(turn: Turn, text: str) -> str:
    """The place as the resident wrote it; pinyin ("91 nong 5 hao lou") as the Chinese it was
    read as, with what they typed beside it, as the reading of a name may be a homophone:
    "91弄5号楼(91 nong 5 hao lou)"."""
    read_as = turn.understanding.read_as if turn.understanding is not None else None
    return f"{read_as}({text})" if read_as and read_as != text else text


def _skipped(step: str | None) -> str:
    """Where a skip (or Done) goes from `step`: the table's say (handlers/dialogs.py), else the summary."""
    found = dialogs.DIALOGS["complaint"].step(step)
    return found.skip if found is not None and found.skip else "confirm"


def _correct(turn: Turn) -> Reply | None:
    """"不对,是5号楼不是3号楼" changes the place; "问题描述我要改一下" asks for the description again."""
    talk, report, text = turn.talk, turn.talk.filled, turn.text
    if (phone := _phone_in(text)) is not None:  # "等等,电话写错了,是13800138001"
        report["phone"] = phone
        return _prompt(turn)
    about_place = dialogs.ABOUT_PLACE.search(text) or places.looks_like_place(text)
    if dialogs.ABOUT_TEXT.search(text) and not places.looks_like_place(text):
        talk.step = "edit_what"
        return _prompt(turn)
    if about_place:
        new = places.corrected(report.get("place", ""), text)
        if new:
            report["place"] = new[:500]
            return _prompt(turn)
        talk.step = "edit_where"
        return _prompt(turn)
    return None


def _phone_in(text: str) -> str | None:
    """A phone number written inside a sentence, or None."""
    found = re.search(r"(?:\+?86)?1[3-9]\d{9}|(?<!\d)\d{8}(?!\d)", re.sub(r"(?<=\d)[\s\-]+(?=\d)", "", text))
    return normalise_phone(found.group(0)) if found else None


_DIGITS = str.maketrans("零〇一幺二两三四五六七八九", "0011223456789")


def normalise_phone(text: str) -> str | None:
    """A mainland mobile (11 digits) or a Shanghai landline (8 digits), or None; full-width digits
    and Chinese numerals read as digits ("一三九一二三四五六七八")."""
    text = unicodedata.normalize("NFKC", text).translate(_DIGITS)
    match = _PHONE_RE.match(re.sub(r"[\s\-()]", "", text))
    return next((g for g in match.groups() if g), None) if match else None


async def on_button(data: str, turn: Turn) -> Reply:
    action = data.partition(":")[2]
    talk = turn.talk
    if action == "resume" and talk.dialog is None and "draft" in talk.filled:
        return resume(turn)
    if action == "discard":
        talk.filled.pop("draft", None)
        return Reply("cancel", [Outbound(turn.services.texts.render("cancelled", turn.lang))])
    if action == "submit":
        return await submit(turn)
    if talk.dialog != "complaint":  # a button of a report already sent or cancelled
        return Reply("cancel", [Outbound(turn.services.texts.render("cancelled", turn.lang))])
    if action == "cancel":
        return cancelled(turn)
    _take_attachments(talk.filled, turn.inbound)
    if action in ("skip", "done"):
        talk.step = _skipped(talk.step)
    elif action in ("what", "where"):
        talk.step = f"edit_{action}"
    return _prompt(turn)


def resume(turn: Turn) -> Reply:
    """Back into the parked draft, at the step it was left."""
    talk = turn.talk
    draft = dict(talk.filled.pop("draft"))
    step = draft.pop("step", None) or "what"
    talk.enter("complaint", step, **{**_EMPTY, **draft})
    return _prompt(turn)


def draft_offer(turn: Turn) -> Outbound | None:
    """"You left a report unfinished: finish it?" - once, the first time after it was parked."""
    draft = turn.talk.filled.get("draft")
    if not draft or draft.get("offered"):
        return None
    draft["offered"] = True
    texts = turn.services.texts
    return Outbound(texts.render("intake_draft", turn.lang, text=(draft.get("text") or "")[:40]),
                    _buttons(turn.services, turn.lang, "resume", "discard"))


async def submit(turn: Turn) -> Reply:
    """Write the ticket (and its card) and only then tell the resident its number."""
    services, lang, resident, talk, inbound = turn.services, turn.lang, turn.resident, turn.talk, turn.inbound
    rules, texts = services.tickets, services.texts
    now = services.clock()
    async with services.store.transaction() as session:
        if talk.dialog != "complaint":  # Submit pressed again: show the ticket it made, if it was just now
            mine = await tickets.of_resident(session, resident.id)
            if mine and now - aware(mine[0].created_at) < timedelta(minutes=10):
                return _created_reply(mine[0], lang, services)
            return Reply("cancel", [Outbound(texts.render("cancelled", lang))])
        if talk.step != "confirm":
            return _prompt(turn)
        report = talk.filled
        source_key = f"intake:{resident.id}:{report.get('started', '')}"
        if existing := await tickets.by_source(session, source_key):
            talk.leave()
            return _created_reply(existing, lang, services)
        if await tickets.created_since(session, resident.id, now - timedelta(days=1)) >= rules.per_day:
            return Reply("complaint", [Outbound(texts.render("ticket_limit", lang, limit=rules.per_day))], score=100)
        place = report.get("place") or ""
        category = services.categories.guess(f"{report['text']} {place}")
        older = await tickets.find_duplicate(session, category, place, report["text"])
        ticket = await tickets.create(
            session, source_key=source_key, resident_id=resident.id, channel=inbound.channel,
            chat_id=inbound.chat_id, category=category, text=report["text"], place=place,
            latitude=report.get("latitude"), longitude=report.get("longitude"),
            photos=json.dumps(report.get("photos", [])), phone=report.get("phone"), spoken=bool(report.get("spoken")),
            created_at=now, **limits(rules.calendar, now, rules.response_days, rules.resolution_days),
        )
        if older is not None:  # flagged for staff on the card, never merged unseen
            await tickets.add_event(session, ticket, "system", "duplicate", f"疑似与 {older.number} 重复", public=False)
        notify.card(session, services, ticket, likely_duplicate=older)
    talk.leave()
    return _created_reply(ticket, lang, services)


def _created_reply(ticket: Ticket, lang: str, services: Services) -> Reply:
    texts = services.texts
    text = texts.render("ticket_created", lang, ticket=ticket, category=services.categories.title(ticket.category, lang))
    buttons = ((Button(texts.label("my_tickets", lang), "mytickets"),),)
    return Reply("complaint", [Outbound(text, buttons)], score=100)
