"""An approval batch that lowers the cross-validated score of content/examples by more than a
point is held, not trained in, until an administrator confirms it in the console."""
from __future__ import annotations

from content.model_cache import cache_dir
from db import review
from db.models import ReviewItem
from tests.conftest import query_rows
from tests.test_learning_e2e import services  # noqa: F401 (the fixture: a swappable model, a cache of its own)
from tests.test_staff_console import console, console_env, csrf_of  # noqa: F401 (fixtures)


async def test_a_batch_that_lowers_the_score_is_held_until_an_administrator_confirms(console, services):  # noqa: F811
    from bot.retrain import ModelKeeper
    from content.training import read_examples

    examples, _ = read_examples(services.content)
    wrong = [e for e in examples if e.label in services.content.entries][:150]  # questions about entries called greetings
    async with services.store.transaction() as session:
        for e in wrong:
            session.add(ReviewItem(reason="fallback", text=e.text, status="labelled", label="greeting"))
        await session.flush()
        version = (await review.approve(session, None, "web:wang", services.clock())).id
    before = sorted(cache_dir().iterdir())

    keeper = ModelKeeper(services)
    await keeper.train_waiting()
    (state, report), = query_rows(services.store, "select state, report from modelversion")
    assert state == "held" and "lowers it by more than a point" in report
    drop = report.splitlines()[0]
    assert float(drop.split("% -> ")[1].split("%")[0]) < float(drop.split(": ")[1].split("%")[0]) - 1
    assert "greeting" in report  # per label: what the batch changed
    assert services.model.version is None and sorted(cache_dir().iterdir()) == before  # no model made, none swapped in

    await console.login("li")
    html = (await console.get("/staff/review"))[1]
    assert "仍然采用" not in html
    assert (await console.post(f"/staff/review/versions/{version}/confirm", {"csrf": csrf_of(html)}))[0] == 403
    console.http.cookie_jar.clear()
    await console.login("wang")
    html = (await console.get("/staff/review"))[1]
    assert "lowers the cross-validated score by more than a point" in html and "仍然采用 Use it anyway" in html
    status, _, response = await console.post(f"/staff/review/versions/{version}/confirm", {"csrf": csrf_of(html)})
    assert status == 303
    assert query_rows(services.store, "select state, confirmed from modelversion") == [("training", 1)]
    assert (await console.post(f"/staff/review/versions/{version}/confirm", {"csrf": csrf_of(html)}))[0] == 404
