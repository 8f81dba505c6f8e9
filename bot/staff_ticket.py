"""One ticket in the console, /staff/tickets/{number}: what the resident wrote (numbers masked
until "show"), both deadlines as countdowns, the history in staff's words, a likely duplicate as a
card with one button, and the forms. Every form posts, then redirects back to the page (post /
redirect / get: a reload sends nothing again) with the queue's filters kept and a "next ticket"
link; each carries the ticket's version (its newest event), and a change made from a page older
than the ticket's last change is refused ("此工单在您打开后已被修改"). A refused action is shown in
red with the status it has; the work itself is the moderation chat's (handlers/staff.py)."""
from __future__ import annotations

import re
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bot.photo_files import PhotoUnavailable
from bot.staff_queue import back_of, chosen_filter, committee_places, countdown
from bot.staff_web import ACCOUNT, FORM, HEADERS, PHOTOS, actor_of, language, log, page, services_of
from db import accounts, tickets
from db.models import Ticket, TicketEvent
from handlers import canned as canned_replies
from handlers import notify, staff
from handlers.masking import mask_phone, mask_text
from handlers.rules.deadlines import is_late
from handlers.rules.lifecycle import OPEN, Status, can_move, staff_choices
from handlers.services import Services

STALE = "stale"
_TAG = re.compile(r"<[^>]{0,200}>")


async def find_ticket(request: web.Request) -> Ticket:
    async with services_of(request).store.transaction() as session:
        ticket = await tickets.find(session, request.match_info["number"])
    if ticket is None:
        raise web.HTTPNotFound(text="没有这张工单")
    return ticket


def allowed_states(ticket: Ticket) -> list[str]:
    """The status control's choices: the current status first, then the moves staff may make from it."""
    return [ticket.status, *staff_choices(ticket.status)]


async def ticket_page(request: web.Request, problem: str = "", status: int = 200, revealed: bool = False,
                      values: dict | None = None) -> web.Response:
    """The ticket; phone and ID numbers masked unless the member pressed "show" (`revealed`)."""
    services, lang = services_of(request), language(request)
    ticket = await find_ticket(request)
    back = back_of(request.query.get("back") or (values or {}).get("back"))
    chosen, _ = chosen_filter(request, _query_of(back), services.clock(), await committee_places(request))
    async with services.store.transaction() as session:
        events = await tickets.history(session, ticket.id, public_only=False)
        people = await accounts.all_accounts(session)
        version = await tickets.version(session, ticket.id)
        duplicate = await tickets.likely_duplicate(session, ticket)
        merged = await tickets.merged_into(session, ticket.id)
        original = await session.get(Ticket, ticket.duplicate_of) if ticket.duplicate_of else None
        following = await tickets.queue_neighbours(session, chosen, ticket)
        others = await tickets.of_resident(session, ticket.resident_id)
    linked = {a.telegram_user_id: a.name for a in people if a.telegram_user_id}
    shown = (lambda text: text or "") if revealed else mask_text
    canned = await canned_replies.replies(services)
    picked = canned.get(str(request.query.get("canned", "")))
    draft = picked.text if picked else (values or {}).get("text", "")
    done = str(request.query.get("done", ""))
    return page(request, "ticket", status, live_page="ticket", live_ticket=ticket.id, ticket=ticket, events=events,
                problem=problem, done=done if done in DONE else "",
                who=lambda a: actor_name(a, linked, lang), line=lambda e: history_line(e, services, lang), shown=shown,
                phone=(ticket.phone or "") if revealed else mask_phone(ticket.phone), revealed=revealed,
                countdown=countdown(services, lang), late=is_late(ticket, services.clock()),
                photo_count=len(tickets.photos(ticket)), states=allowed_states(ticket), canned=canned,
                canned_title=lambda name: canned[name].title_zh if lang == "zh" else canned[name].title_en, draft=draft,
                categories=list(services.categories.by_id), people=[a for a in people if not a.disabled],
                version=version, back=back, back_query=urlencode({"back": back}), duplicate=duplicate, merged=merged,
                original=original, following=following, others=[t for t in others if t.id != ticket.id],
                mask_text=mask_text, open_states=OPEN, DONE=DONE)


def _query_of(address: str) -> dict:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(address).query))


DONE = {  # what the page says after a form's redirect, by action
    "reply": ("已发送给居民。", "Sent to the resident."),
    "status": ("状态已更改,已通知居民。", "Status changed; the resident is told."),
    "note": ("备注已记下。", "Note saved."), "assign": ("已交办。", "Assigned."), "category": ("类别已更改。", "Category changed."),
    "duplicate": ("已合并,居民已被告知。", "Merged; the resident is told."), "unmerge": ("已撤销合并。", "Merge undone."),
}


async def photo_file(request: web.Request) -> web.StreamResponse:
    """A ticket's photo (its `index`, from 0), fetched from the resident's channel the first time."""
    ticket = await find_ticket(request)
    index = request.match_info["index"]
    found = tickets.photos(ticket)
    if not tickets.is_short_id(index) or int(index) >= len(found):
        raise web.HTTPNotFound(text="no such photo")
    try:
        path, kind = await request.app[PHOTOS].get(ticket.channel, found[int(index)])
    except (PhotoUnavailable, aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
        log.warning("staff console: photo %s of %s unavailable: %s", index, ticket.number, exc)
        raise web.HTTPNotFound(text="this photo cannot be fetched from the channel") from None
    return web.FileResponse(path, headers={**HEADERS, "Content-Type": kind})  # no-store: not left on a shared PC


async def ticket_action(request: web.Request) -> web.Response:
    """A form of the ticket page: refused when the page is older than the ticket's last change,
    or with a red line saying why; else done, and back to the page (303)."""
    services, form = services_of(request), request[FORM]
    name = request.match_info["action"]
    if name == "reveal":
        return await reveal(request)
    action = ACTIONS.get(name)
    if action is None:
        raise web.HTTPNotFound(text="no such action")
    ticket = await find_ticket(request)
    values = {k: str(v).replace("\x00", "").strip()[:2000] for k, v in form.items()}
    async with services.store.transaction() as session:
        current = await tickets.version(session, ticket.id)
    if values.get("version") != str(current):
        return await ticket_page(request, problem=STALE, status=409, values=values)
    problem = await action(ticket, values, actor_of(request[ACCOUNT]), services)
    if problem:
        return await ticket_page(request, problem=problem, status=409 if problem.startswith("refused") else 400,
                                 values=values)
    done = "status" if name == "reply" and values.get("state", ticket.status) != ticket.status else name
    raise web.HTTPSeeOther(f"/staff/tickets/{ticket.number}?" + urlencode({"done": done, "back": back_of(values.get("back"))}))


async def reveal(request: web.Request) -> web.Response:
    """The full phone and ID numbers, shown to this member in this answer (never cached) and
    written in the ticket's internal history: who looked, and when."""
    ticket = await find_ticket(request)
    async with services_of(request).store.transaction() as session:
        await tickets.add_event(session, ticket, actor_of(request[ACCOUNT]), "reveal", "查看了完整号码", public=False)
    log.info("staff console: %s saw the numbers of %s", request[ACCOUNT].name, ticket.number)
    return await ticket_page(request, revealed=True, values=dict(request[FORM]))


# Each action returns "" when done, else what is wrong (the template words it).

async def _reply(ticket: Ticket, form: dict, actor: str, services: Services) -> str:
    """The reply and, when the status control moved, the status change: one message to the resident."""
    text, state = form.get("text", ""), form.get("state", ticket.status) or ticket.status
    if not text:
        return "reply"
    if state == ticket.status:
        await staff.relay_reply(ticket, text, actor, services)
        return ""
    if state not in allowed_states(ticket):
        return "refused_status"
    if state == "rejected" and not notify.gives_reason(text):  # the resident is owed the reason
        return "reason"
    await staff.change_status(ticket, state, text, actor, services)
    return ""


async def _note(ticket: Ticket, form: dict, actor: str, services: Services) -> str:
    if not form.get("text"):
        return "note"
    await staff.add_note(ticket, form["text"], actor, services)
    return ""


async def _assign(ticket: Ticket, form: dict, actor: str, services: Services) -> str:
    async with services.store.transaction() as session:
        account = await accounts.by_name(session, form.get("assignee", ""))
    if account is None or account.disabled:
        return "assign"
    await staff.assign(ticket, account.name, actor, services)
    return ""


async def _category(ticket: Ticket, form: dict, actor: str, services: Services) -> str:
    category = form.get("category", "")
    if category not in services.categories.by_id:
        return "category"
    if category != ticket.category:
        await staff.change_category(ticket, category, actor, services)
    return ""


async def _duplicate(ticket: Ticket, form: dict, actor: str, services: Services) -> str:
    """Merged into the ticket named in full (TQ-2611-0042): a short id could be another month's."""
    number = form.get("target", "").strip().upper()
    if not tickets.is_ticket_number(number):
        return "duplicate"
    async with services.store.transaction() as session:
        target = await tickets.find(session, number)
    if target is None or target.id == ticket.id:
        return "duplicate"
    if not can_move(ticket.status, Status.duplicate):
        return "refused_merge"
    await staff.mark_duplicate(ticket, target, actor, services)
    return ""


async def _unmerge(ticket: Ticket, form: dict, actor: str, services: Services) -> str:
    if ticket.status != "duplicate":
        return "refused_unmerge"
    await staff.undo_duplicate(ticket, actor, services)
    return ""


ACTIONS = {"reply": _reply, "note": _note, "assign": _assign, "category": _category, "duplicate": _duplicate,
           "unmerge": _unmerge}


def history_line(event: TicketEvent, services: Services, lang: str) -> str:
    """One event as staff read it: no raw ids (in_progress, facilities), no markup."""
    def status(state: str | None) -> str:
        try:
            return services.texts.status(state, lang) if state else ""
        except KeyError:
            return state or ""

    note = _TAG.sub("", event.note or "")
    if event.kind == "category" and " -> " in note:
        before, _, after = note.partition(" -> ")
        note = f"{services.categories.title(before, lang)} → {services.categories.title(after, lang)}"
    kinds = {
        "created": ("居民提交", "Filed by the resident"), "reply": ("答复居民", "Reply"),
        "message": ("居民补充", "The resident added"),
        "rating": ("居民评价", "Rating"), "note": ("内部备注", "Internal note"), "assign": ("交办给", "Assigned to"),
        "category": ("改类别", "Category"), "reveal": ("查看了完整号码", "Saw the full numbers"),
    }
    if event.kind == "status":
        head = f"{status(event.from_status)} → {status(event.to_status)}"
    else:
        head = kinds.get(event.kind, ("记录", "Entry"))[lang != "zh"]
    if event.kind == "reveal":
        return head
    return f"{head}:{note}" if note and lang == "zh" else f"{head}: {note}" if note else head


def actor_name(actor: str, linked: dict[str, str], lang: str) -> str:
    """An event's actor as the console shows it: one member by their account's name, whether they
    acted here ("web:<name>") or in the moderation chat ("staff:<Telegram id> ..." of a linked id)."""
    zh = lang == "zh"
    if actor.startswith("web:"):
        return f"{actor[len('web:'):]}({'网页' if zh else 'web'})"
    telegram_id = actor[len("staff:"):].partition(" ")[0] if actor.startswith("staff:") else None
    if telegram_id in linked:
        return f"{linked[telegram_id]}(Telegram)"
    return {"resident": ("居民", "resident"), "system": ("系统", "system")}.get(actor, (actor, actor))[not zh]
