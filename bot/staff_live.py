"""The console's live updates: `GET /staff/live?since=N` answers, as JSON, the changes numbered
above N (db/changes.py) as soon as there is one, or after LONG_POLL seconds with none; the
page's script (`GET /staff/live.js`) asks again with the newest number it got, and refreshes
what the change touches (the list, the ticket, the alerts banner), shows "同事 X 刚刚更新了此工单",
and, when the member allowed it, a browser notification for a new ticket, an emergency alert or
a ticket assigned to them. Without JavaScript the pages work as before (reload to see).

Why a long poll and not Server-Sent Events: an answer is one ordinary JSON response, so nginx's
defaults pass it (no `proxy_buffering off`, only a proxy_read_timeout above LONG_POLL: 60 s by
default), a stopping server ends it at once, and the browser's fetch carries the session cookie
like any page. The numbers come from the database, so every server sharing it answers alike;
each process reads the counter at most once every POLL seconds however many pages wait (and at
once after a change it committed itself).
"""
from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from sqlmodel import col, func, select

from bot.staff_ticket import actor_name
from bot.staff_web import ACCOUNT, HEADERS, language, services_of
from bot.staff_web import number as staff_number
from db import accounts, changes
from db.models import Alert, LiveChange, Ticket
from db.store import Store
from handlers.rules.lifecycle import OPEN

LONG_POLL = 25.0  # seconds an answer waits for a change (below nginx's default proxy_read_timeout of 60 s)
POLL = 1.0  # seconds between two reads of the counter by this process while pages wait
SHOWN = 100  # changes in one answer; a page further behind reloads
KEPT_READS = 64  # answers' shared parts kept (a few per version: pages a change or two behind)
SCRIPT = Path(__file__).with_name("static") / "live.js"


class Feed:
    """This process's reading of the database's change counter, shared by the pages waiting on it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.stopping = asyncio.Event()  # the server stops: waiting answers go now
        self.waiting = 0  # answers waiting for a change now
        self._reads: dict[tuple[int, int], asyncio.Future[Shared]] = {}  # (since, version) -> what is told
        self._value = 0
        self._read_at = -math.inf
        self._dirty = False  # this process committed a change since the last read
        self._lock = asyncio.Lock()

    async def current(self, fresh: bool = False) -> int:
        """The counter, as read within the last POLL seconds (`fresh`: read now)."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            if fresh or self._dirty or loop.time() - self._read_at >= POLL:
                self._dirty = False
                async with self.store.transaction() as session:
                    self._value = await changes.current(session)
                self._read_at = loop.time()
            return self._value

    async def beyond(self, since: int, timeout: float) -> int:
        """The counter once it is above `since` (or `timeout` seconds have passed, or the server stops)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        value = await self.current()
        if value < since:  # a page made by another process since this one's last read
            value = await self.current(fresh=True)
        while True:
            left = end - loop.time()
            if value > since or left <= 0 or self.stopping.is_set():
                return value
            changed = self.store.changed
            waiters = [asyncio.ensure_future(changed.wait()), asyncio.ensure_future(self.stopping.wait())]
            self.waiting += 1
            try:
                await asyncio.wait(waiters, timeout=min(POLL, left), return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.waiting -= 1
                for waiter in waiters:
                    waiter.cancel()
            if changed.is_set():
                self._dirty = True  # before clearing: a page woken by the same commit reads afresh too
                changed.clear()
            value = await self.current()


    async def read(self, since: int, version: int) -> Shared:
        """What every page asking from `since` at `version` is told alike: read once for all of
        them (a change wakes every open page at the same moment)."""
        key = (since, version)
        if (reading := self._reads.get(key)) is None:
            if len(self._reads) > KEPT_READS:
                self._reads.clear()
            reading = self._reads[key] = asyncio.ensure_future(self._read(since, version))
        try:
            return await asyncio.shield(reading)
        except Exception:
            self._reads.pop(key, None)  # not kept: the next page reads again
            raise

    async def _read(self, since: int, version: int) -> Shared:
        async with self.store.transaction() as session:
            found = await changes.since(session, since, SHOWN + 1) if version > since else []
            oldest = await changes.oldest(session) if since else None
            ids = {c.ticket_id for c in found if c.ticket_id}
            tickets = {t.id: t for t in (await session.exec(select(Ticket).where(col(Ticket.id).in_(ids)))).all()} if ids else {}
            linked = {a.telegram_user_id: a.name for a in await accounts.all_accounts(session) if a.telegram_user_id}
            waiting = (await session.exec(select(func.count()).select_from(Alert).where(
                col(Alert.acknowledged_at).is_(None)))).one()
        # a page from before the kept changes, too far behind, or from another database: it reads itself again
        reload = since > version or len(found) > SHOWN or (oldest is not None and bool(found) and since + 1 < oldest)
        return Shared(tuple(c for c in found if c.seq <= version)[:SHOWN], tickets, linked, waiting, reload)


@dataclass(frozen=True)
class Shared:
    found: tuple[LiveChange, ...]  # the changes above the page's number, up to the answer's
    tickets: dict[int, Ticket]  # theirs
    linked: dict[str, str]  # Telegram user id -> account name: who acted in the moderation chat
    alerts: int  # not acknowledged
    reload: bool


FEED = web.AppKey("live_feed", Feed)


def setup(app: web.Application) -> None:
    from bot.staff_web import signed_in
    from bot.web_keys import SERVICES

    app[FEED] = Feed(app[SERVICES].store)
    app.on_shutdown.append(_stop)
    app.router.add_get("/staff/live", signed_in(live))
    app.router.add_get("/staff/live.js", script)


async def _stop(app: web.Application) -> None:
    app[FEED].stopping.set()


async def script(_request: web.Request) -> web.Response:
    """The pages' script (no build step, nothing from elsewhere); no session needed to read it."""
    return web.Response(body=SCRIPT.read_bytes(), content_type="text/javascript", charset="utf-8",
                        headers={**HEADERS, "Cache-Control": "no-cache"})


async def live(request: web.Request) -> web.Response:
    """The changes above `since`, once there is one (at most LONG_POLL seconds); `wait=0` answers at once."""
    services, me = services_of(request), request[ACCOUNT]
    since = staff_number(request.query.get("since", "0"), "since", limit=2**62)
    wait = str(request.query.get("wait", "1")) != "0"
    feed = request.app[FEED]
    current = await feed.beyond(since, LONG_POLL if wait else 0.0)
    shared = await feed.read(since, current)
    async with services.store.transaction() as session:
        mine = (await session.exec(select(func.count()).select_from(Ticket).where(
            col(Ticket.assignee).in_((me.name, f"@{me.name}")), col(Ticket.status).in_(OPEN)))).one()
    lang = language(request)
    body = {"version": current, "reload": shared.reload, "mine": mine, "alerts": shared.alerts, "changes": []}
    for change in shared.found:
        ticket = shared.tickets.get(change.ticket_id)
        body["changes"].append({
            "seq": change.seq, "kind": change.kind, "ticket": ticket.id if ticket else None,
            "number": ticket.number if ticket else None,
            "category": services.categories.title(ticket.category, lang) if ticket else None,
            "by": actor_name(change.actor, shared.linked, lang), "by_resident": change.actor == "resident",
            "me": change.actor == f"web:{me.name}",
            "to_me": change.kind == "assign" and (change.assignee or "").lstrip("@") == me.name,
        })
    return web.json_response(body, headers={**HEADERS})
