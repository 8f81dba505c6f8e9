"""The console's events page, /staff/events: the list with each one's progress said in words
("草稿,尚未发送", "已发送 3/10"), a form that creates one (a draft, or published at once) with a
date-time picker (Shanghai time, checked again here with a Chinese message) and the topics by
their titles grouped by area; a draft can be edited (?edit=N) or deleted, a published event
withdrawn. Signed-in staff only, every POST with the session's CSRF token
(bot/staff_console.py's `signed_in`); publishing and withdrawing are the same functions as the
moderation chat's /event and the command line."""
from __future__ import annotations

from datetime import datetime

from aiohttp import web

from bot.staff_web import ACCOUNT, FORM, language, page, services_of, signed_in
from db import events
from db.clock import SHANGHAI
from db.events import EventError
from db.models import Event
from db.tickets import is_short_id
from handlers import events as shown_events
from handlers.services import Services

PICKER = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and takes


def setup(app: web.Application) -> None:
    app.router.add_get("/staff/events", signed_in(event_list))
    app.router.add_post("/staff/events", signed_in(create))
    app.router.add_post("/staff/events/{id:[0-9]{1,12}}/{action:publish|withdraw|edit|delete}", signed_in(act))


def _progress(event: Event, progress: events.Progress | None, lang: str) -> str:
    """An event's notices in words: "0/0" never shown bare."""
    zh = lang == "zh"
    if event.status == "draft":
        return "草稿,尚未发送" if zh else "A draft: nothing sent yet"
    if progress is None or progress.total == 0:
        return "没有订阅者,无需发送" if zh else "No subscribers: nothing to send"
    parts = [f"已发送 {progress.sent}/{progress.total}" if zh else f"sent {progress.sent} of {progress.total}"]
    for count, in_zh, in_en in ((progress.waiting, "等待发送 {}", "{} waiting"), (progress.blocked, "{} 人已屏蔽", "{} blocked"),
                                (progress.withdrawn, "{} 条已撤回", "{} withdrawn"), (progress.failed, "{} 条失败", "{} failed"),
                                (progress.held, "{} 位微信居民超过48小时未互动,通知暂存,待其下次发消息时送达",
                                 "{} held for WeChat residents silent for 48 hours, delivered when they next write"),
                                (progress.told, "其中 {} 位已收到模板消息提醒", "{} of them told by a template message"),
                                (progress.stopped, "{} 条未发:居民已退订", "{} not sent: the resident unsubscribed"),
                                (progress.expired, "{} 条未发:居民再次发消息前活动已结束",
                                 "{} not sent: the event was over before the resident wrote"),
                                (progress.skipped, "{} 位微信居民无法送达", "{} WeChat residents not reachable")):
        if count:
            parts.append((in_zh if zh else in_en).format(count))
    return (",".join(parts) if zh else "; ".join(parts).capitalize())


def _topics(services: Services, lang: str) -> list[tuple[str, list]]:
    """The topics by area (in menu order, each area's as its file has them), by their titles: never the ids."""
    by_area: dict[str, list] = {}
    for entry in services.content.entries.values():
        by_area.setdefault(entry.area, []).append(entry)
    return [(area.title.get(lang) or area.title.get("zh"), by_area[area.id])
            for area in services.content.areas if area.id in by_area]


def _picker(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime(PICKER) if moment else ""


async def event_list(request: web.Request, problem: str = "", status: int = 200, form: dict | None = None) -> web.Response:
    """The events; after an action (?done=N) that event's progress on top; ?edit=N a draft in the form."""
    services, lang = services_of(request), language(request)
    async with services.store.transaction() as session:
        found = await events.listing(session, limit=100)
        progress = {e.id: await events.progress(session, e.id) for e in found if e.status != "draft"}
    shown = [(e, shown_events.shown(e, lang, services), _progress(e, progress.get(e.id), lang)) for e in found]
    done = request.query.get("done", "")
    done_event = next((e for e in found if is_short_id(done) and e.id == int(done)), None)
    editing = str(request.query.get("edit", ""))
    draft = next((e for e in found if is_short_id(editing) and e.id == int(editing) and e.status == "draft"), None)
    if form is None and draft is not None:
        form = dict(id=str(draft.id), topic=draft.topic, title_zh=draft.title_zh, title_en=draft.title_en,
                    start=_picker(draft.start), end=_picker(draft.end), place=draft.place, details=draft.details, how=draft.how)
    deleted = str(request.query.get("deleted", ""))
    return page(request, "events", status, events=shown, problem=problem, topics=_topics(services, lang), form=form or {},
                done=(f"#{done_event.id}:" + _progress(done_event, progress.get(done_event.id), lang)) if done_event else "",
                deleted=deleted if is_short_id(deleted) else "",
                earliest=_picker(services.clock()))


def _when(text: str, what_zh: str, what_en: str, lang: str) -> datetime:
    """A picker's value (or "YYYY-MM-DD HH:MM" typed) on the Shanghai clock; else a clear error."""
    try:
        if not text.isascii():  # strptime takes ２０２６ and ٢٠٢٦ too
            raise ValueError(text)
        return datetime.strptime(text.strip().replace(" ", "T", 1), PICKER).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise EventError(f"{what_zh}时间无效:请用日期时间选择器选择(上海时间),例如 2026-12-12 09:00。" if lang == "zh" else
                         f"The {what_en} time is not valid: pick it in the date and time picker (Shanghai time).") from None


def _checked(form: dict, services: Services, lang: str) -> tuple[datetime, datetime | None]:
    """The form's times and fields checked, each problem in one line of the page's language."""
    zh = lang == "zh"
    if form.get("topic", "") not in services.content.entries:
        raise EventError("请选择主题。" if zh else "Choose a topic.")
    if not form.get("title_zh") or not form.get("place"):
        raise EventError("标题(中文)和地点必填。" if zh else "The Chinese title and the place are required.")
    start = _when(form.get("start", ""), "开始", "start", lang)
    end = _when(form["end"], "结束", "end", lang) if form.get("end") else None
    if start <= services.clock():
        raise EventError(f"开始时间 {start:%Y-%m-%d %H:%M} 已经过去,请选择以后的时间。" if zh else
                         f"The start {start:%Y-%m-%d %H:%M} is in the past.")
    if end is not None and end <= start:
        raise EventError("结束时间须晚于开始时间。" if zh else "The end must be after the start.")
    return start, end


def _fields(form: dict, start: datetime, end: datetime | None) -> dict:
    return dict(topic=form["topic"], title_zh=form["title_zh"][:256], title_en=form.get("title_en", "")[:256], start=start,
                end=end, place=form["place"][:256], details=form.get("details", "")[:2048], how=form.get("how", "")[:1024])


async def create(request: web.Request) -> web.Response:
    services, lang = services_of(request), language(request)
    form = {k: str(v).strip()[:2000] for k, v in request[FORM].items() if k != "csrf"}
    form.pop("id", None)
    try:
        start, end = _checked(form, services, lang)
    except EventError as error:
        return await event_list(request, problem=str(error), status=400, form=form)
    async with services.store.transaction() as session:
        event = events.add(session, f"web:{request[ACCOUNT].name}", **_fields(form, start, end))
        await session.flush()
        if form.get("publish"):
            await shown_events.publish(session, event, services)
    raise web.HTTPSeeOther(f"/staff/events?done={event.id}")


async def act(request: web.Request) -> web.Response:
    services, lang = services_of(request), language(request)
    number, action = int(request.match_info["id"]), request.match_info["action"]
    form = {k: str(v).strip()[:2000] for k, v in request[FORM].items() if k != "csrf"}
    if action == "edit":
        try:
            start, end = _checked(form, services, lang)
        except EventError as error:
            return await event_list(request, problem=str(error), status=400, form={**form, "id": str(number)})
    async with services.store.transaction() as session:
        event = await session.get(Event, number)
        if event is None or event.draft_step is not None:
            raise web.HTTPNotFound(text="没有这个活动")
        if action in ("edit", "delete") and event.status != "draft":
            raise web.HTTPConflict(text="已发布的活动不能修改或删除,只能撤回" if lang == "zh" else
                                   "A published event cannot be edited or deleted, only withdrawn")
        if action == "withdraw":
            await shown_events.withdraw(session, event, services)
        elif action == "delete":
            await session.delete(event)
        elif action == "edit":
            for name, value in _fields(form, start, end).items():
                setattr(event, name, value)
            session.add(event)
        else:
            try:
                await shown_events.publish(session, event, services)
            except EventError as error:
                problem = str(error)
            else:
                problem = ""
    if action == "publish" and problem:
        return await event_list(request, problem=problem, status=409)
    raise web.HTTPSeeOther(f"/staff/events?deleted={number}" if action == "delete" else f"/staff/events?done={number}")
