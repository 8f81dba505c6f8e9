"""The whole loop of issue 25: residents' messages fall back and are kept for review; a member of
staff labels them in Chromium; an administrator approves; the model retrains in a child process
while the bot goes on answering; the same messages are now answered; a rollback
(`python -m bot content rollback`) restores the previous answers; the export lists what the report has no answer for.

"升降机" (a lift, as some residents say it) is in no entry, example or evaluation set, so the
model of the content files does not know it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot.export.build import build_export
from bot.learning_cli import export_examples
from bot.retrain import ModelKeeper
from content.live_model import LiveModel
from content.model import EXAMPLES_DIR
from content.model_cache import cache_dir, content_hash, model_path
from handlers.reports import today_in_shanghai
from tests.conftest import query_rows
from tests.test_review import turn
from tests.test_staff_console import PASSWORD, console, console_env, page  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
GROUP = ["老公房装升降机", "老公房想装只升降机", "老公房想装升降机"]  # similar: one group, labelled at once
SINGLE = "屋里厢想装只升降机"  # labelled on its own
NOT_IN_REPORT = "小区里流浪猫老多了哪能办"
LIFT = "elevator_installation"


@pytest.fixture
def services(services, tmp_path, monkeypatch):
    """The services as `python -m bot serve` has them: a model that can be swapped; a model cache of
    the test's own (the files' model copied into it), which the child processes use too."""
    files_model = model_path(content_hash())
    monkeypatch.setenv("TANGQIAO_CACHE_DIR", str(tmp_path / "cache"))
    cache_dir().mkdir()
    shutil.copy(files_model, model_path(content_hash()))
    return replace(services, model=LiveModel(services.model.model if isinstance(services.model, LiveModel) else services.model,
                                             content_hash()))


async def sign_in(browser, http, name: str) -> None:
    await browser.goto(http.url("/staff/review"))
    await browser.fill("input[name=username]", name)
    await browser.fill("input[name=password]", PASSWORD)
    await browser.click("button[type=submit]")
    await browser.wait_for_url("**/staff/")
    await browser.goto(http.url("/staff/review"))


async def submit(browser, button) -> None:
    async with browser.expect_navigation():
        await button.click()


async def test_fallbacks_labelled_in_a_browser_approved_retrained_answered_and_rolled_back(console, page, services, tmp_path):  # noqa: F811
    for n, text in enumerate([NOT_IN_REPORT, SINGLE, *GROUP]):
        assert (await turn(services, text, user=f"r{n}")).kind in ("fallback", "clarify"), text  # not understood
    assert query_rows(services.store, "select count(*) from reviewitem where reason in ('fallback', 'clarify')") == [(5,)]

    await sign_in(page, console, "li")
    group = page.locator("section.group", has=page.locator("h2", has_text=f"“{GROUP[-1]}” × 3"))
    assert await page.locator("section.group h2").first.inner_text() == f"“{GROUP[-1]}” × 3"  # the most frequent first
    await group.locator("div.bulk form.label select[name=other]").select_option(LIFT)
    await submit(page, group.locator("div.bulk form.label button", has_text="整组标注"))
    single = page.locator("tr.item", has_text=SINGLE)
    await single.locator("select[name=other]").select_option(LIFT)
    await submit(page, single.locator("button", has_text="标注 Label"))
    await submit(page, page.locator("tr.item", has_text=NOT_IN_REPORT).locator("button[value=not_in_report]"))
    assert await page.locator("#labelled").inner_text() == "5" and await page.locator("#approve").count() == 0
    await submit(page, page.locator("header button", has_text="退出"))

    await sign_in(page, console, "wang")
    await submit(page, page.locator("#approve"))
    assert "正在后台训练" in await page.locator("p.done").inner_text()
    (version, state), = query_rows(services.store, "select id, state from modelversion")
    assert state == "training"

    keeper = ModelKeeper(services)
    await keeper.poll()  # the retrain starts, in a child process
    during = await turn(services, "老人牛奶券怎么领", user="meanwhile")
    assert during.kind == "answer" and not keeper.training.done()  # answered while it trains
    await keeper.training
    (state, examples, report), = query_rows(services.store, "select state, examples, report from modelversion")
    assert (state, examples) == ("active", 5) and "cross-validated score of content/examples" in report
    assert services.model.version == version

    for n, text in enumerate([SINGLE, *GROUP]):
        reply = await turn(services, text, user=f"after{n}")
        assert (reply.kind, reply.topic) == ("answer", LIFT), text
    assert (await turn(services, NOT_IN_REPORT, user="after-cat")).kind in ("fallback", "clarify")
    await page.reload()
    assert await page.locator("tr.version td.state").first.inner_text() == "active"
    today = today_in_shanghai()  # the export lists what remains without an answer in the report
    result = await build_export(services.store, services, today, today, tmp_path / "export", formats=("csv",))
    sheet = next(p for p in result.files if p.name.endswith("not_in_report.csv")).read_text("utf-8-sig")
    assert NOT_IN_REPORT in sheet and "升降机" not in sheet

    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLES_DIR, examples)
    from db import review

    async with services.store.transaction() as session:
        approved = await review.trained_examples(session, None)
    assert export_examples(services.content, approved, examples) == 5
    assert export_examples(services.content, approved, examples) == 0  # deduplicated
    written = [json.loads(line) for line in (examples / "reviewed.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {(row["q"], row["label"]) for row in written} == {*((t, LIFT) for t in [SINGLE, *GROUP]), (NOT_IN_REPORT, "out_of_scope")}

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{services.store.engine.url.database}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bot", "content", "rollback"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0 and f"rolled back model version {version}" in done.stdout, done.stderr
    assert await keeper.swap_in_current()
    assert services.model.version is None
    for n, text in enumerate([SINGLE, *GROUP]):
        assert (await turn(services, text, user=f"rolled{n}")).kind in ("fallback", "clarify"), text
    assert query_rows(services.store, "select distinct status from reviewitem where batch is null and label is not null") == [
        ("labelled",)]
