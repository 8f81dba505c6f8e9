"""The console's review page, /staff/review (未理解的问题): what the bot may have misunderstood
(handlers/review.py), similar messages together (handlers/themes.py), the most frequent first,
each with the bot's reply and candidates. Staff label a message with one click (the right entry,
a kind, "not in the report") or a whole group at once; administrators approve the labels, which
makes a model version trained in the background (bot/retrain.py), and confirm or reject a batch
held because it lowers the cross-validated score. Every POST carries the session's CSRF token
(bot/staff_web.py's `signed_in`)."""
from __future__ import annotations

import json

from aiohttp import web

from bot.staff_web import ACCOUNT, FORM, actor_of, number, page, services_of, signed_in
from content.learning import labels
from content.model import KINDS
from handlers.themes import themes

SHOWN = 2000  # the newest open items grouped on the page
NOT_LEARNED = ("dismissed", "none")  # "nothing to learn from it", and "unlabelled again"


def setup(app: web.Application) -> None:
    app.router.add_get("/staff/review", signed_in(review_page))
    app.router.add_post("/staff/review/label", signed_in(label))
    app.router.add_post("/staff/review/approve", signed_in(approve, admin=True))
    app.router.add_post("/staff/review/versions/{id:\\d+}/{action:confirm|reject}", signed_in(decide, admin=True))


async def review_page(request: web.Request, status: int = 200, problem: str = "") -> web.Response:
    from db import review

    services = services_of(request)
    async with services.store.transaction() as session:
        items = await review.open_items(session, SHOWN)
        versions = await review.versions(session)
        current = await review.current(session)
    by_id = {item.id: item for item in items}
    groups = themes((item.created_at, item.text, item.id, item.label) for item in items)
    entries = services.content.entries
    return page(request, "review", status, groups=groups, items=by_id, versions=versions, current=current,
                labelled=sum(1 for item in items if item.status == "labelled"), problem=problem,
                done=request.query.get("done", ""), kinds=KINDS, entries=entries,
                areas=[(area, services.content.in_area(area.id)) for area in services.content.areas],
                candidates=lambda item: [c for c in json.loads(item.candidates) if c in entries],
                best=lambda item: [(c, s) for c, s in json.loads(item.scores)][:3])


async def label(request: web.Request) -> web.StreamResponse:
    """One message (`ids` = its id) or a group (`ids` = theirs, comma-separated) labelled `label`."""
    from db import review

    services, form = services_of(request), request[FORM]
    chosen = str(form.get("label", "") or form.get("other", ""))
    ids = [number(i, "ids") for i in str(form.get("ids", "")).split(",") if i.strip()]
    if not ids or chosen not in (*labels(services.content), *NOT_LEARNED):
        return await review_page(request, 400, "label")
    async with services.store.transaction() as session:
        await review.label_items(session, ids, None if chosen == "none" else chosen, actor_of(request[ACCOUNT]),
                                 services.clock())
    raise web.HTTPSeeOther(f"/staff/review#i{ids[0]}")


async def approve(request: web.Request) -> web.StreamResponse:
    """All labelled messages approved: a model version to train with them."""
    from db import review

    services = services_of(request)
    async with services.store.transaction() as session:
        version = await review.approve(session, None, actor_of(request[ACCOUNT]), services.clock())
    if version is None:
        return await review_page(request, 400, "nothing")
    raise web.HTTPSeeOther("/staff/review?done=approved#versions")


async def decide(request: web.Request) -> web.StreamResponse:
    """A held batch confirmed (trained although it lowers the score) or rejected (labelled again)."""
    from db import review

    services = services_of(request)
    version_id, action = number(request.match_info["id"], "id"), request.match_info["action"]
    async with services.store.transaction() as session:
        done = await (review.confirm if action == "confirm" else review.reject)(session, version_id)
    if not done:
        raise web.HTTPNotFound(text="no such held version")
    raise web.HTTPSeeOther(f"/staff/review?done={action}#versions")
