"""The console's queue, /staff/: one list ordered by the next deadline due (the first response's
until one is given, then the resolution's), each shown as a countdown in working hours; the
views 今日到期 (due today), 待受理 (new), 我的 (assigned to me), 超时 (overdue) and one per
neighbourhood committee, each with the count of its own list; filters, search (a ticket number in
any status, a phone's last four digits or all of it, words of the text or place with Chinese
numerals and spaces as the areas write them), pages with the total; and the bulk form (assign,
change status) over the ticked rows, done one ticket at a time by the moderation chat's functions."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from aiohttp import web

from bot.staff_web import ACCOUNT, FORM, actor_of, page, services_of
from db import accounts, tickets
from db import committees as committee_list
from db.clock import SHANGHAI
from db.models import Ticket
from handlers import committees, staff
from handlers.masking import mask_text
from handlers.rules.lifecycle import OPEN, STAFF_MOVES, can_move
from handlers.rules.places import AREA_LENGTH
from handlers.services import Services

PAGE_SIZE = 50
VIEWS = ("today", "new", "mine", "overdue")


def committees_file(request: web.Request) -> dict[str, tuple[str, ...]]:
    """The neighbourhood committees of COMMITTEES_FILE (the seed of the console's list); none when it cannot be read."""
    from bot.staff_web import log
    from bot.web_keys import SETTINGS

    try:
        return committees.load(request.app[SETTINGS].committees_file)
    except (OSError, committees.CommitteesError) as exc:
        log.error("staff console: COMMITTEES_FILE: %s", exc)
        return {}


async def committee_places(request: web.Request) -> dict[str, tuple[str, ...]]:
    """The neighbourhood committees and their places as the office keeps them (db/committees.py)."""
    async with services_of(request).store.transaction() as session:
        return await committee_list.places(session, committees_file(request))


def end_of_today(now: datetime) -> datetime:
    local = now.astimezone(SHANGHAI).date() + timedelta(days=1)
    return datetime.combine(local, time(0), SHANGHAI)


def view_filter(request: web.Request, view: str, now: datetime,
                places: dict[str, tuple[str, ...]]) -> tuple[tickets.QueueFilter, bool]:
    """One view's own filter (no other), and whether it knows the view."""
    name = request[ACCOUNT].name
    found = {
        "today": tickets.QueueFilter(due_after=now, due_before=end_of_today(now)),
        "new": tickets.QueueFilter(states=("new",)),
        "mine": tickets.QueueFilter(assignees=(name, f"@{name}")),
        "overdue": tickets.QueueFilter(due_before=now),
    }
    if view.startswith("committee:"):
        areas = places.get(view[len("committee:"):])
        return (tickets.QueueFilter(areas=areas), True) if areas else (tickets.QueueFilter(), False)
    return found.get(view, tickets.QueueFilter()), view in found


def chosen_filter(request: web.Request, query, now: datetime,
                  places: dict[str, tuple[str, ...]]) -> tuple[tickets.QueueFilter, dict]:
    """The list the address asks for: its view, then the filters on top; unknown values ignored."""
    services = services_of(request)
    view = str(query.get("view", ""))
    chosen, known = view_filter(request, view, now, places)
    view = view if known else ""
    status = str(query.get("status", ""))
    if status == "all":
        chosen = replace(chosen, states=())
    elif status in services.texts.statuses("zh"):
        chosen = replace(chosen, states=(status,))
    else:
        status = ""
    category = str(query.get("category", ""))
    category = category if category in services.categories.by_id else ""
    committee = str(query.get("committee", ""))
    committee = committee if committee in places else ""
    place = str(query.get("place", "")).strip()[:AREA_LENGTH]
    areas = places[committee] if committee else (place,) if place else chosen.areas
    search = str(query.get("q", "")).strip()[:100]
    chosen = replace(chosen, category=category or None, areas=areas, search=search)
    shown = dict(view=view, status=status, category=category, committee=committee, place=place, q=search)
    return chosen, shown


def address_of(shown: dict, **changes) -> str:
    """The queue's address for these filters (empty ones left out)."""
    values = {k: v for k, v in {**shown, **changes}.items() if v not in ("", None, 1) or (k == "page" and v != 1)}
    return "/staff/" + (f"?{urlencode(values)}" if values else "")


def countdown(services: Services, lang: str):
    """A ticket's next deadline as working hours left ("剩 3.5 工时") or past ("超时 2 工时")."""
    calendar, now = services.tickets.calendar, services.clock()

    def shown(ticket: Ticket, which: str = "") -> tuple[str, str]:
        if ticket.status not in OPEN:
            return "", ""
        which = which or ("response" if ticket.first_response_at is None else "resolution")
        due = ticket.response_due if which == "response" else ticket.resolution_due
        stage = {"response": ("首次答复", "first response"), "resolution": ("办结", "resolution")}[which][lang != "zh"]
        if due > now:
            hours = _hours(calendar.working_hours_between(now, due))
            text = f"{stage} 剩 {hours} 工时" if lang == "zh" else f"{stage}: {hours} working h left"
            return text, "soon" if due < end_of_today(now) else ""
        hours = _hours(calendar.working_hours_between(due, now))
        text = f"{stage} 超时 {hours} 工时" if lang == "zh" else f"{stage}: {hours} working h overdue"
        return text, "late"

    return shown


def _hours(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


async def queue(request: web.Request) -> web.Response:
    from bot.staff_web import language

    services = services_of(request)
    now = services.clock()
    places = await committee_places(request)
    chosen, shown = chosen_filter(request, request.query, now, places)
    page_text = str(request.query.get("page", "1"))
    number = int(page_text) if tickets.is_short_id(page_text) and int(page_text) > 0 else 1
    async with services.store.transaction() as session:
        total = await tickets.queue_count(session, chosen)
        pages = max(1, -(-total // PAGE_SIZE))
        number = min(number, pages)
        rows = await tickets.queue(session, chosen, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
        counts = {view: await tickets.queue_count(session, view_filter(request, view, now, places)[0]) for view in VIEWS}
        counts[""] = await tickets.queue_count(session, tickets.QueueFilter())
        by_committee = {name: await tickets.queue_count(session, tickets.QueueFilter(areas=areas))
                        for name, areas in places.items()}
        areas = await tickets.open_areas(session)
        people = await accounts.all_accounts(session)
    back = address_of(shown, page=number)
    return page(request, "queue", live_page="queue", tickets=rows, total=total, page_number=number, pages=pages, counts=counts,
                by_committee=by_committee, statuses=list(services.texts.statuses("zh")),
                categories=list(services.categories.by_id), places=areas, committees=list(places), chosen=shown,
                address=lambda **changes: address_of(shown, **changes), back=back,
                ticket_link=lambda t: f"/staff/tickets/{t.number}?{urlencode({'back': back})}",
                countdown=countdown(services, language(request)), mask_text=mask_text,
                people=[a for a in people if not a.disabled], bulk_states=("acknowledged", "in_progress"),
                done=_bulk_done(request), problem=str(request.query.get("problem", ""))[:20])


def _bulk_done(request: web.Request) -> str:
    done = str(request.query.get("done", ""))
    return done if tickets.is_short_id(done) else ""


def back_of(value: object) -> str:
    """A queue address sent back by a form: only one of ours (never elsewhere)."""
    back = str(value or "")
    return back if back.startswith("/staff/") and not back.startswith("//") and "\\" not in back else "/staff/"


async def bulk(request: web.Request) -> web.Response:
    """The ticked tickets assigned or moved to a status (the note goes to each resident), one by
    one; tickets the move does not apply to are left as they are. Then back to the list."""
    services, form = services_of(request), request[FORM]
    back = back_of(form.get("back"))
    ids = [int(i) for i in form.getall("ids", []) if tickets.is_short_id(str(i))][:PAGE_SIZE]
    action, note = str(form.get("action", "")), str(form.get("text", "")).strip()[:2000]
    assignee, state = str(form.get("assignee", "")), str(form.get("state", ""))
    names = {a.name for a in await _people(services)}
    if not ids or action not in ("assign", "status") or (action == "assign" and assignee not in names) or (
            action == "status" and (state not in STAFF_MOVES or not note)):
        raise web.HTTPSeeOther(_with(back, problem="bulk"))
    actor, done = actor_of(request[ACCOUNT]), 0
    for ticket_id in ids:
        async with services.store.transaction() as session:
            ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            continue
        if action == "assign":
            await staff.assign(ticket, assignee, actor, services)
            done += 1
        elif can_move(ticket.status, state):
            await staff.change_status(ticket, state, note, actor, services)
            done += 1
    raise web.HTTPSeeOther(_with(back, done=str(done)))


def _with(address: str, **values) -> str:
    return address + ("&" if "?" in address else "?") + urlencode(values)


async def _people(services: Services):
    async with services.store.transaction() as session:
        return [a for a in await accounts.all_accounts(session) if not a.disabled]
