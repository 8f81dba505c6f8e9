"""The staff web console under /staff/, on the application of `python -m bot serve`.

Server-rendered pages (content/templates/console/) that work without JavaScript; one script of our
own (/staff/live.js, bot/staff_live.py) keeps an open page up to date; no resource from elsewhere.
- `GET /staff/login`, `POST /staff/login` (username, password), `POST /staff/logout`
- `GET /staff/`: the queue, next deadline first, its views and filters, paged
  (bot/staff_queue.py); `POST /staff/bulk` assigns or moves the ticked tickets
- `GET /staff/tickets/{number}`: one ticket with its whole history; `POST .../{action}` with
  action reply (with a status change: one message), note, assign, category, duplicate, unmerge or
  reveal: the same functions as the moderation chat's commands (handlers/staff.py), the actor
  being "web:<account>" (bot/staff_ticket.py)
- `GET /staff/opinions?days=7` or `?week=YYYY-MM-DD`: residents' opinions by category, similar
  ones together as themes; `POST /staff/opinions/mark` marks a theme read or answered
- `GET /staff/dashboard`: this week so far against the same days of last week, the 12-week
  trend and the recent emergency alerts, drawn by the weekly export's own code (bot/export/)
- `GET /staff/exports`: the export files (EXPORT_DIR) to download; `POST` makes one of any days
- `/staff/accounts`, `/staff/committees`, `/staff/canned`: management, for administrators only
  (403 for other staff; bot/staff_admin.py)
- `/staff/events`: the office's events, their notices' progress, create / publish / withdraw (bot/staff_events.py)
- `GET /staff/files/{number}/{index}`: a ticket's photo, fetched from the channel once and kept
  (bot/photo_files.py)

This module: the routes and signing in; bot/staff_overview.py the other
pages, bot/staff_web.py the sessions, CSRF check and page rendering they share. Login attempts
are counted before the password is checked, per (account, address) and per address: over the
limit, even the right password is refused until the window has passed.
"""
from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from bot.photo_files import PhotoFiles
from bot.staff_overview import dashboard, export_file, exports, mark_theme, new_export, opinions
from bot.staff_queue import bulk, queue
from bot.staff_ticket import photo_file, ticket_action, ticket_page
from bot.staff_web import COOKIE, CSRF, PHOTOS, address, log, page, see_other, services_of, set_cookie, signed_in
from db import accounts

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
    app.router.add_post("/staff/bulk", signed_in(bulk))
    app.router.add_get("/staff/tickets/{number}", signed_in(ticket_page))
    app.router.add_post("/staff/tickets/{number}/{action}", signed_in(ticket_action))
    app.router.add_get("/staff/opinions", signed_in(opinions))
    app.router.add_post("/staff/opinions/mark", signed_in(mark_theme))
    app.router.add_get("/staff/dashboard", signed_in(dashboard))
    app.router.add_get("/staff/exports", signed_in(exports))
    app.router.add_post("/staff/exports", signed_in(new_export))
    app.router.add_get("/staff/exports/{name}", signed_in(export_file))
    app.router.add_get("/staff/files/{number}/{index}", signed_in(photo_file))


async def _to_queue(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/staff/")



# -- signing in ------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.StreamResponse:
    async with services_of(request).store.transaction() as session:
        if await accounts.signed_in(session, request.cookies.get(COOKIE, ""), services_of(request).clock()):
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
    store, now = services_of(request).store, services_of(request).clock()
    taken = []
    async with store.transaction() as session:
        for key, limit in keys:
            if not await accounts.take_attempt(session, key, limit, LIMIT_WINDOW, now):
                break
            taken.append(key)
        if len(taken) < len(keys):
            for key in taken:
                await accounts.give_back(session, key, now)
        account = await accounts.by_name(session, name) if len(taken) == len(keys) else None
    if len(taken) < len(keys):
        log.warning("staff console: login of %r from %s refused: too many failures", name, where)
        return _login_page(request, 429, "too_many", name)
    if not await accounts.password_matches(account, password):
        log.info("staff console: failed login of %r from %s", name, where)
        return _login_page(request, 401, "wrong", name)
    async with store.transaction() as session:
        for key, _ in keys:
            await accounts.give_back(session, key, now)
        token = await accounts.open_session(session, account, services_of(request).clock())
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
