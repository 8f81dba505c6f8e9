"""The console's emergency alerts (db/alerts.py): on top of every page until acknowledged.

- every console request with a session cookie reads the unacknowledged alerts once (a middleware),
  and content/templates/console/_alerts.html, included by base.html, shows them with a button;
- `POST /staff/alerts/{id}/acknowledge` (signed in, with the session's CSRF token as every form)
  records who acknowledged and when, and goes back to the page it came from.

The page renderers (bot/staff_web.page, the dashboard's bot/export/html.py) pass nothing: the
partial reads the alerts through `banner()`, a function of the templates' environment, from this
request's context.
"""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from aiohttp import web

from bot.export.figures import wall_clock
from bot.staff_web import ACCOUNT, COOKIE, FORM, actor_of, log, services_of, signed_in
from bot.staff_web import number as staff_number
from db import accounts, alerts

SHOWN = 20  # the banner's longest list


@dataclass(frozen=True)
class Banner:
    alerts: tuple  # (id, Shanghai time, channel, kinds, masked text)
    back: str  # where the acknowledge button returns
    csrf: str  # the session's token, for the button's form


_banner: ContextVar[Banner | None] = ContextVar("staff_alerts_banner", default=None)


def setup(app: web.Application) -> None:
    from bot.web_keys import SERVICES

    app.middlewares.append(_load_alerts)
    app[SERVICES].texts.env.globals["alert_banner"] = banner
    app.router.add_post("/staff/alerts/{id:\\d+}/acknowledge", signed_in(acknowledge))


def banner() -> Banner | None:
    """This request's unacknowledged alerts (None outside a signed-in console page, or none waiting)."""
    return _banner.get()


@web.middleware
async def _load_alerts(request: web.Request, handler) -> web.StreamResponse:
    if not request.path.startswith("/staff/") or request.path.startswith(("/staff/login", "/staff/files/", "/staff/live")) \
            or not request.cookies.get(COOKIE):
        return await handler(request)
    async with services_of(request).store.transaction() as session:
        signed = await accounts.signed_in(session, request.cookies[COOKIE], services_of(request).clock())  # an ended one sees nothing
        found = await alerts.unacknowledged(session, SHOWN) if signed else []
    if not found:
        return await handler(request)
    token = _banner.set(Banner(tuple((a.id, wall_clock(a.created_at), a.channel, a.kinds, a.text) for a in found),
                               request.path_qs if request.method == "GET" else "/staff/", signed[0].csrf))
    try:
        return await handler(request)
    finally:
        _banner.reset(token)


async def acknowledge(request: web.Request) -> web.StreamResponse:
    number = staff_number(request.match_info["id"], "id")
    actor = actor_of(request[ACCOUNT])
    async with services_of(request).store.transaction() as session:
        done = await alerts.acknowledge(session, number, actor, services_of(request).clock())
    if done:
        log.info("staff console: emergency alert %s acknowledged by %s", number, actor)
    back = str(request[FORM].get("back", ""))
    raise web.HTTPSeeOther(back if back.startswith("/staff/") and "//" not in back else "/staff/")
