"""The console's events page, /staff/events: the list with each one's progress, a form that
creates one (a draft, or published at once), and publish / withdraw buttons. Signed-in staff
only, every POST with the session's CSRF token (bot/staff_console.py's `signed_in`); the work is
done by the same functions as the moderation chat's /event and the command line."""
from __future__ import annotations

from aiohttp import web

from bot.staff_web import ACCOUNT, FORM, page, services_of, signed_in
from db import events
from db.events import EventError
from db.models import Event
from db.tickets import is_short_id
from handlers import events as shown_events


def setup(app: web.Application) -> None:
    app.router.add_get("/staff/events", signed_in(event_list))
    app.router.add_post("/staff/events", signed_in(create))
    app.router.add_post("/staff/events/{id:[0-9]{1,12}}/{action:publish|withdraw}", signed_in(act))


async def event_list(request: web.Request, problem: str = "", status: int = 200, form: dict | None = None) -> web.Response:
    """The events; after an action (?done=N) that event's progress on top."""
    services = services_of(request)
    async with services.store.transaction() as session:
        found = await events.listing(session, limit=100)
        progress = {e.id: await events.progress(session, e.id) for e in found if e.status != "draft"}
    shown = [(e, shown_events.shown(e, "zh", services)) for e in found]
    say = {e.id: shown_events.staff_say(services, "progress", "zh", number=e.id, progress=p) for e, p in
           ((e, progress[e.id]) for e in found if e.id in progress)}
    topics = sorted(services.content.entries.values(), key=lambda entry: (entry.area, entry.id))
    done = request.query.get("done", "")
    return page(request, "events", status, events=shown, progress=say, done=say.get(int(done), "") if is_short_id(done) else "",
                problem=problem,
                topics=topics, form=form or {})


async def create(request: web.Request) -> web.Response:
    services = services_of(request)
    form = {k: str(v).strip()[:2000] for k, v in request[FORM].items()}
    try:
        start = events.parse_local(form.get("start", ""), "start 开始")
        end = events.parse_local(form["end"], "end 结束") if form.get("end") else None
        events.check(form.get("topic", ""), services.content.entries, start, end, services.clock())
        if not form.get("title_zh") or not form.get("place"):
            raise EventError("title and place are required 标题和地点必填")
    except EventError as error:
        return await event_list(request, problem=str(error), status=400, form=form)
    async with services.store.transaction() as session:
        event = events.add(session, f"web:{request[ACCOUNT].name}", topic=form["topic"], title_zh=form["title_zh"][:256],
                           title_en=form.get("title_en", "")[:256], start=start, end=end, place=form["place"][:256],
                           details=form.get("details", "")[:2048], how=form.get("how", "")[:1024])
        await session.flush()
        if form.get("publish"):
            await shown_events.publish(session, event, services)
    raise web.HTTPSeeOther(f"/staff/events?done={event.id}")


async def act(request: web.Request) -> web.Response:
    services = services_of(request)
    number, action = int(request.match_info["id"]), request.match_info["action"]
    async with services.store.transaction() as session:
        event = await session.get(Event, number)
        if event is None or event.draft_step is not None:
            raise web.HTTPNotFound(text="no such event")
        if action == "withdraw":
            await shown_events.withdraw(session, event, services)
        else:
            try:
                await shown_events.publish(session, event, services)
            except EventError as error:
                return await event_list(request, problem=str(error), status=409)
    raise web.HTTPSeeOther(f"/staff/events?done={number}")
