"""The staff console's plumbing: its pages' rendering and headers, the session and CSRF check every
page goes through, the request's address and scheme behind the local proxy.

The client's address (for the login limits and the log) is the peer's, or, when the peer is one of
TRUSTED_PROXIES, what the proxy says in X-Real-IP or X-Forwarded-For (the last address there that
is not a trusted proxy): anyone else could put any address in those headers.

A session is a row of `staffsession` named by the SHA-256 of the cookie's random token; the
cookie is HttpOnly, SameSite=Strict, Secure over https, and ends with the session (8 hours) or
at logout. Every POST carries the session's CSRF token (the login form: a token of its own
cookie, bot/staff_console.py).
"""
from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from ipaddress import ip_address

from aiohttp import web

from bot.photo_files import PhotoFiles
from db import accounts, changes
from db.models import StaffAccount
from handlers.services import Services

log = logging.getLogger("bot.staff_console")

COOKIE = "tq_staff"
HEADERS = {  # no framing, only our own script and images (/staff/live.js, /staff/files/), nothing cached or sent elsewhere
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",  # live.js, its /staff/live
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Strict-Transport-Security": "max-age=31536000",  # https only from now on (ignored over plain http)
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
}
ACCOUNT = web.RequestKey("account", StaffAccount)  # the signed-in account
CSRF = web.RequestKey("csrf", str)  # the token the page's forms carry
FORM = web.RequestKey("form", object)  # a POST's fields, read while checking its token
VERSION = web.RequestKey("live_version", int)  # the newest change when the request began (bot/staff_live.py)
PHOTOS = web.AppKey("photo_files", PhotoFiles)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def see_other(location: str) -> web.Response:
    """A redirect to return (not raise), for one that sets cookies."""
    return web.Response(status=303, headers={"Location": location, **HEADERS})


def services_of(request: web.Request) -> Services:
    from bot.web_keys import SERVICES

    return request.app[SERVICES]


def _trusted(request: web.Request, peer: str | None) -> bool:
    """Whether `peer` is one of TRUSTED_PROXIES."""
    from bot.web_keys import SETTINGS

    try:
        where = ip_address((peer or "").strip())
    except ValueError:
        return False
    return any(where in network for network in request.app[SETTINGS].trusted_proxies)


def _from_proxy(request: web.Request, header: str) -> str | None:
    """A header set by the reverse proxy in front of us; ignored unless the peer is a trusted proxy."""
    return request.headers.get(header) if _trusted(request, request.remote) else None


def address(request: web.Request) -> str:
    """The client's address: behind a trusted proxy, the nearest address it names that is not a trusted proxy."""
    if not _trusted(request, request.remote):
        return request.remote or "?"
    forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",") if a.strip()]
    while forwarded and _trusted(request, forwarded[-1]):
        forwarded.pop()
    found = forwarded[-1] if forwarded else request.headers.get("X-Real-IP", "").strip()
    try:
        return str(ip_address(found))
    except ValueError:
        return request.remote or "?"


def number(value: object, name: str = "number", limit: int = 10**9) -> int:
    """A request's number: ASCII digits only (not ² or ３), at most `limit`; else 400 with one line."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or int(text) > limit:
        raise web.HTTPBadRequest(text=f"{name}: 请填写数字 a number is needed")
    return int(text)


def https(request: web.Request) -> bool:
    return request.secure or _from_proxy(request, "X-Forwarded-Proto") == "https"


def language(request: web.Request) -> str:
    """The console's language: the account's own, else CONSOLE_LANGUAGE (Chinese unless set)."""
    from bot.web_keys import SETTINGS

    account = request.get(ACCOUNT)
    chosen = account.language if account is not None and account.language else request.app[SETTINGS].console_language
    return chosen if chosen in ("zh", "en") else "zh"


def page(request: web.Request, template: str, status: int = 200, **values) -> web.Response:
    """A console page in one language (never both side by side): its templates say each text as
    t("中文", "English")."""
    services = services_of(request)
    texts, lang = services.texts, language(request)
    html = texts.env.get_template(f"console/{template}.html").render(
        account=request.get(ACCOUNT), csrf=request.get(CSRF, ""), lang=lang, live_version=request.get(VERSION),
        t=lambda zh, en: zh if lang == "zh" else en,
        status_name=lambda state: texts.status(state, lang),
        category_name=lambda c: services.categories.title(c, lang),
        **values)
    return web.Response(text=html, status=status, content_type="text/html", headers=HEADERS)


async def _carries_nul(request: web.Request) -> bool:
    """A NUL character in a parameter or form field: PostgreSQL stores none, so it is refused here
    (400) rather than failing in the database (500)."""
    values = list(request.query.values())
    if request.method == "POST" and request.content_type in _FORMS:
        values += [v for v in (await request.post()).values() if isinstance(v, str)]
    return any("\x00" in v for v in values)


PROBLEMS = {  # an HTTP error's one line, for staff
    400: ("请求有误:{}", "Bad request: {}"), 403: ("无权访问:{}", "Not allowed: {}"), 404: ("找不到此页面。", "No such page."),
    405: ("不支持此操作。", "Not supported."), 409: ("{}", "{}"), 413: ("内容太大。", "Too large."),
}


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The console's errors as its own pages, in its language (one line, never a traceback)."""
    try:
        if request.path.startswith("/staff") and await _carries_nul(request):
            raise web.HTTPBadRequest(text="请求中含有无效字符 an invalid character (NUL)")
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/staff") or exc.status not in PROBLEMS:
            raise
        zh, en = PROBLEMS[exc.status]
        detail = (exc.text or "").splitlines()[0][:200] if exc.text else ""
        detail = "" if detail.startswith(f"{exc.status}:") else detail
        line = (zh if language(request) == "zh" else en).format(detail).removesuffix(":").removesuffix(": ")
        return page(request, "error", exc.status, line=line)


def signed_in(handler: Handler, admin: bool = False) -> Handler:
    """Only for a live session (else to the login page), of an administrator with `admin`; a
    POST only with the session's CSRF token."""
    async def checked(request: web.Request) -> web.StreamResponse:
        async with services_of(request).store.transaction() as session:
            found = await accounts.signed_in(session, request.cookies.get(COOKIE, ""), services_of(request).clock())
            if found is not None and request.method == "GET":  # before the page reads its data: no change missed
                request[VERSION] = await changes.current(session)
        if found is None:
            raise web.HTTPSeeOther("/staff/login")
        row, request[ACCOUNT] = found
        request[CSRF] = row.csrf
        if admin and not request[ACCOUNT].is_admin:
            raise web.HTTPForbidden(text="for administrators only")
        if request.method == "POST":
            request[FORM] = form = await request.post()
            if not hmac.compare_digest(str(form.get("csrf", "")).encode(), row.csrf.encode()):
                log.warning("staff console: POST %s without the session's CSRF token, from %s", request.path, address(request))
                raise web.HTTPForbidden(text="CSRF token missing or wrong")
        return await handler(request)

    return checked



def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, path: str = "/staff/",
                max_age: int | None = None) -> None:
    response.set_cookie(name, value, path=path, max_age=max_age, httponly=True, samesite="Strict", secure=https(request))


def actor_of(account: StaffAccount) -> str:
    return f"web:{account.name}"
