"""The staff web console under /staff/, on the application of `python -m bot serve`.

Server-rendered pages (content/templates/console/), no JavaScript, no resource from elsewhere.
- `GET /staff/login`, `POST /staff/login` (username, password), `POST /staff/logout`
- `GET /staff/`: the queue: counts by status, filters (status, category, due soon or overdue,
  assigned to me, place, neighbourhood committee), search
- `GET /staff/tickets/{number}`: one ticket with its whole history; `POST .../{action}` with
  action reply, canned, status, note, assign, category, duplicate or unmerge: the same functions
  as the moderation chat's commands (handlers/staff.py), the actor being "web:<account>"
- `GET /staff/opinions?days=7` or `?week=YYYY-MM-DD`: residents' opinions by category, similar
  ones together as themes; `POST /staff/opinions/mark` marks a theme read or answered
- `GET /staff/dashboard`: this week so far against the same days of last week, the 12-week
  trend and the recent emergency alerts, drawn by the weekly export's own code (bot/export/)
- `GET /staff/exports`: the export files (EXPORT_DIR) to download; `POST` makes one of any days
- `GET /staff/accounts`: the accounts, for administrators only (403 for other staff)
- `/staff/events`: the office's events, their notices' progress, create / publish / withdraw (bot/staff_events.py)
- `GET /staff/files/{number}/{index}`: a ticket's photo, fetched from the channel once and kept
  (bot/photo_files.py)

This module: the routes, signing in, the queue and a ticket; bot/staff_overview.py the other
pages, bot/staff_web.py the sessions, CSRF check and page rendering they share. Login attempts
are counted before the password is checked, per (account, address) and per address: over the
limit, even the right password is refused until the window has passed.
"""
from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from markupsafe import Markup

from bot.photo_files import PhotoFiles, PhotoUnavailable
from bot.staff_overview import account_list, dashboard, export_file, exports, mark_theme, new_export, opinions
from bot.staff_web import (
    ACCOUNT,
    COOKIE,
    CSRF,
    FORM,
    HEADERS,
    PHOTOS,
    actor_of,
    address,
    log,
    page,
    see_other,
    services_of,
    set_cookie,
    signed_in,
)
from db import accounts, tickets
from db.models import OPEN_STATES, Ticket, utcnow
from handlers import committees, staff
from handlers.chase import SOON
from handlers.masking import mask_phone, mask_text
from handlers.my_tickets import describe
from handlers.services import Services
from handlers.types import Reply

LOGIN_COOKIE = "tq_login"  # the login form's CSRF token: there is no session yet to bind it to
ACCOUNT_LIMIT = 5  # failed logins of one account name from one address within the window
ADDRESS_LIMIT = 20  # failed logins from one address within the window
LIMIT_WINDOW = timedelta(minutes=15)


def setup(app: web.Application) -> None:
    """Add the console's routes to the application of bot/web.py (its settings set already)."""
    from bot.web_keys import SETTINGS

    settings = app[SETTINGS]
    app[PHOTOS] = PhotoFiles(Path(settings.photo_dir), settings.telegram_bot_token, settings.telegram_base_url)
    app.router.add_get("/staff", _to_queue)
    app.router.add_get("/staff/login", login_form)
    app.router.add_post("/staff/login", login)
    app.router.add_post("/staff/logout", signed_in(logout))
    app.router.add_get("/staff/", signed_in(queue))
    app.router.add_get("/staff/tickets/{number}", signed_in(ticket_page))
    app.router.add_post("/staff/tickets/{number}/{action}", signed_in(ticket_action))
    app.router.add_get("/staff/opinions", signed_in(opinions))
    app.router.add_post("/staff/opinions/mark", signed_in(mark_theme))
    app.router.add_get("/staff/dashboard", signed_in(dashboard))
    app.router.add_get("/staff/exports", signed_in(exports))
    app.router.add_post("/staff/exports", signed_in(new_export))
    app.router.add_get("/staff/exports/{name}", signed_in(export_file))
    app.router.add_get("/staff/accounts", signed_in(account_list, admin=True))
    app.router.add_get("/staff/files/{number}/{index}", signed_in(photo_file))


async def _to_queue(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/staff/")



# -- signing in ------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.StreamResponse:
    async with services_of(request).store.transaction() as session:
        if await accounts.signed_in(session, request.cookies.get(COOKIE, "")):
            raise web.HTTPSeeOther("/staff/")
    return _login_page(request)


def _login_page(request: web.Request, status: int = 200, problem: str = "", name: str = "") -> web.Response:
    token = secrets.token_urlsafe(32)
    request[CSRF] = token
    response = page(request, "login", status, problem=problem, name=name)
    set_cookie(request, response, LOGIN_COOKIE, token, path="/staff/login")
    return response




async def login(request: web.Request) -> web.StreamResponse:
    """Each attempt is counted (db/accounts.py take_attempt) before its password is checked, per
    (account, address) and per address: a burst cannot outrun the limits, and a wrong password
    typed elsewhere does not lock a colleague out. The right password gives its attempt back."""
    form = await request.post()
    name, password = str(form.get("username", "")).strip()[:64], str(form.get("password", ""))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(str(form.get("csrf", "")).encode(), expected.encode()):
        raise web.HTTPForbidden(text="CSRF token missing or wrong: open the login page again 请重新打开登录页")
    where = address(request)
    keys = ((f"pair:{name}@{where}", ACCOUNT_LIMIT), (f"address:{where}", ADDRESS_LIMIT))
    store = services_of(request).store
    taken = []
    async with store.transaction() as session:
        for key, limit in keys:
            if not await accounts.take_attempt(session, key, limit, LIMIT_WINDOW):
                break
            taken.append(key)
        if len(taken) < len(keys):
            for key in taken:
                await accounts.give_back(session, key)
        account = await accounts.by_name(session, name) if len(taken) == len(keys) else None
    if len(taken) < len(keys):
        log.warning("staff console: login of %r from %s refused: too many failures", name, where)
        return _login_page(request, 429, "too_many", name)
    if not await accounts.password_matches(account, password):
        log.info("staff console: failed login of %r from %s", name, where)
        return _login_page(request, 401, "wrong", name)
    async with store.transaction() as session:
        for key, _ in keys:
            await accounts.give_back(session, key)
        token = await accounts.open_session(session, account)
    log.info("staff console: %s signed in from %s", account.name, where)
    response = see_other("/staff/")
    set_cookie(request, response, COOKIE, token, max_age=int(accounts.SESSION_LIFETIME.total_seconds()))
    response.del_cookie(LOGIN_COOKIE, path="/staff/login")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    async with services_of(request).store.transaction() as session:
        await accounts.close_session(session, request.cookies.get(COOKIE, ""))
    response = see_other("/staff/login")
    response.del_cookie(COOKIE, path="/staff/")
    return response

# -- the queue and a ticket ------------------------------------------------------------------


async def queue(request: web.Request) -> web.Response:
    services = services_of(request)
    query = request.query
    status = query.get("status", "open")
    states = OPEN_STATES if status == "open" else () if status == "all" else (status,)
    category = query.get("category") if query.get("category") in services.categories.by_id else None
    due, search, mine = query.get("due", ""), query.get("q", "")[:100], query.get("mine") == "1"
    place = query.get("place", "").strip()[:tickets.AREA_LENGTH]
    committees = _committees(request)
    committee = query.get("committee", "") if query.get("committee", "") in committees else ""
    areas = committees[committee] if committee else (place,) if place else ()
    now = utcnow()
    late_at = {"overdue": now, "soon": now + SOON}.get(due)  # "soon": due within SOON, or overdue already
    name = request[ACCOUNT].name
    async with services.store.transaction() as session:
        figures = await tickets.stats(session, now)
        rows = await tickets.queue(session, states, category, late_at, search, (name, f"@{name}") if mine else (),
                                   areas)
        places = await tickets.open_areas(session)
    return page(request, "queue", tickets=rows, figures=figures, statuses=list(services.texts.statuses("zh")),
                categories=list(services.categories.by_id), places=places, committees=list(committees),
                chosen=dict(status=status, category=category or "", due=due, q=search, mine=mine, place=place,
                            committee=committee),
                late=lambda t: tickets.is_late(t, now),
                soon=lambda t: tickets.is_late(t, now + SOON) and not tickets.is_late(t, now),
                mask_text=mask_text, mask_phone=mask_phone)


def _committees(request: web.Request) -> dict[str, tuple[str, ...]]:
    """The neighbourhood committees and their places (COMMITTEES_FILE); none when it cannot be read."""
    from bot.web_keys import SETTINGS

    try:
        return committees.load(request.app[SETTINGS].committees_file)
    except (OSError, committees.CommitteesError) as exc:
        log.error("staff console: COMMITTEES_FILE: %s", exc)
        return {}


async def _ticket(request: web.Request) -> Ticket:
    async with services_of(request).store.transaction() as session:
        ticket = await tickets.find(session, request.match_info["number"])
    if ticket is None:
        raise web.HTTPNotFound(text="no such ticket")
    return ticket


async def ticket_page(request: web.Request, done: str = "", problem: str = "", status: int = 200,
                      revealed: bool = False) -> web.Response:
    """One ticket; phone and ID numbers masked unless the member pressed "show" (`revealed`)."""
    services = services_of(request)
    ticket = await _ticket(request)
    async with services.store.transaction() as session:
        events = await tickets.history(session, ticket.id, public_only=False)
        linked = {a.telegram_user_id: a.name for a in await accounts.all_accounts(session) if a.telegram_user_id}
    shown = (lambda text: text or "") if revealed else mask_text
    return page(request, "ticket", status, ticket=ticket, events=events, problem=problem, who=lambda a: _who(a, linked),
                shown=shown, phone=(ticket.phone or "") if revealed else mask_phone(ticket.phone), revealed=revealed,
                done=Markup(done),  # what staff.py answered: made by its autoescaping templates
                describe=lambda e: describe(e, services, "zh"), late=tickets.is_late(ticket, utcnow()),
                photo_count=len(tickets.photos(ticket)), staff_states=tickets.STAFF_STATES, canned=services.texts.canned(),
                categories=list(services.categories.by_id))


async def photo_file(request: web.Request) -> web.StreamResponse:
    """A ticket's photo (its `index`, from 0), fetched from the resident's channel the first time."""
    ticket = await _ticket(request)
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
    """A form of the ticket page, done by the moderation chat's function (handlers/staff.py)
    with the account as the actor; a form missing what it needs gets the page with a hint."""
    services, form = services_of(request), request[FORM]
    if request.match_info["action"] == "reveal":
        return await reveal(request)
    action = ACTIONS.get(request.match_info["action"])
    if action is None:
        raise web.HTTPNotFound(text="no such action")
    ticket = await _ticket(request)
    reply = await action(ticket, {k: str(v).strip()[:2000] for k, v in form.items()}, actor_of(request[ACCOUNT]), services)
    if reply is None:
        return await ticket_page(request, problem=request.match_info["action"], status=400)
    return await ticket_page(request, reply.messages[0].text if reply.messages else "")


async def reveal(request: web.Request) -> web.Response:
    """The full phone and ID numbers, shown to this member once (this answer, not cached) and
    written in the ticket's internal history: who looked, and when."""
    ticket = await _ticket(request)
    async with services_of(request).store.transaction() as session:
        await tickets.add_event(session, ticket, actor_of(request[ACCOUNT]), "reveal", "查看了完整号码", public=False)
    log.info("staff console: %s saw the numbers of %s", request[ACCOUNT].name, ticket.number)
    return await ticket_page(request, revealed=True)


async def _reply(ticket: Ticket, form: dict, actor: str, services: Services) -> Reply | None:
    return await staff.relay_reply(ticket, form["text"], actor, services) if form.get("text") else None


async def _canned(ticket: Ticket, form: dict, actor: str, services: Services) -> Reply | None:
    name = form.get("name", "")
    return await staff.canned_reply(ticket, name, actor, services) if name in services.texts.canned() else None


async def _status(ticket: Ticket, form: dict, actor: str, services: Services) -> Reply | None:
    state, note = form.get("state", ""), form.get("text", "")
    return await staff.change_status(ticket, state, note, actor, services) if note and state in tickets.STAFF_STATES else None


async def _note(ticket: Ticket, form: dict, actor: str, services: Services) -> Reply | None:
    return await staff.add_note(ticket, form["text"], actor, services) if form.get("text") else None


async def _assign(ticket: Ticket, form: dict, actor: str, services: Services) -> Reply | None:
    return await staff.assign(ticket, form["text"], actor, services) if form.get("text") else None


async def _category(ticket: Ticket, form: dict, actor: str, services: Services) -> Reply | None:
    category = form.get("category", "")
    return await staff.change_category(ticket, category, actor, services) if category in services.categories.by_id else None


async def _duplicate(ticket: Ticket, form: dict, actor: str, services: Services) -> Reply | None:
    """Merge into the ticket named in `text` (its number or short id)."""
    async with services.store.transaction() as session:
        target = await tickets.find(session, form.get("text") or "0")
    if target is None or target.id == ticket.id:
        return None
    return await staff.mark_duplicate(ticket, target, actor, services)


async def _unmerge(ticket: Ticket, form: dict, actor: str, services: Services) -> Reply | None:
    return await staff.undo_duplicate(ticket, actor, services)


ACTIONS = {"reply": _reply, "canned": _canned, "status": _status, "note": _note, "assign": _assign,
           "category": _category, "duplicate": _duplicate, "unmerge": _unmerge}




def _who(actor: str, linked: dict[str, str]) -> str:
    """An event's actor as the console shows it: one member by their account's name, whether they
    acted here ("web:<name>") or in the moderation chat ("staff:<Telegram id> ..." of a linked id)."""
    if actor.startswith("web:"):
        return f"{actor[len('web:'):]} (网页 web)"
    telegram_id = actor[len("staff:"):].partition(" ")[0] if actor.startswith("staff:") else None
    if telegram_id in linked:
        return f"{linked[telegram_id]} (Telegram)"
    return "居民 resident" if actor == "resident" else actor
