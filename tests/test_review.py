"""Learning from use (issue 25): what is kept for staff to review, masked, and for how long.

Each turn goes through the real router, which calls `handlers.review.record` after the turn."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from bot.jobs import purge_review
from bot.settings import load_settings
from db.models import utcnow
from handlers import review
from handlers.router import handle
from handlers.types import Inbound
from tests.conftest import query_rows

pytestmark = pytest.mark.both_databases

PHONE, ID_CARD = "13812345678", "310115198001011234"


def said(text="", callback=None, user="u1"):
    return Inbound("console", user, user, text=text, callback=callback)


async def turn(services, text="", callback=None, user="u1"):
    """One resident's turn through the router: handled, then recorded for review."""
    return await handle(said(text, callback, user), services)


def items(services, columns="reason, text, decision"):
    return query_rows(services.store, f"select {columns} from reviewitem order by id")


async def test_a_fallback_is_kept_with_the_decision_and_scores_and_no_number(services):
    reply = await turn(services, f"明天会不会下雪,我身份证{ID_CARD}")
    assert reply.kind == "fallback"
    (reason, text, decision, scores, reply_text), = items(services, "reason, text, decision, scores, reply")
    assert (reason, decision) == ("fallback", "fallback")
    assert "下雪" in text and not re.search(r"\d{4}", text)  # numbers erased before they were written
    best = json.loads(scores)
    assert len(best) == 5 and all(isinstance(s, float) for _, s in best) and best[0][1] >= best[-1][1]
    assert "报告" in reply_text
    await turn(services, "老人牛奶券怎么领")
    await turn(services, f"牛奶券在哪里领取啊 我电话{PHONE}")  # a rephrasing: what came next is kept too
    everything = " ".join(str(v) for row in query_rows(services.store, "select * from reviewitem") for v in row)
    assert "牛奶券在哪里领取啊" in everything and PHONE not in everything and ID_CARD not in everything
    assert "5678" not in everything and "****" in everything


async def test_the_scores_kept_are_those_the_turn_was_understood_with(services, monkeypatch):
    """Review keeps the model's best scores from the router's understanding of the turn: the
    message is not scored a second time."""
    understood = services.model.understand("明天会不会下雪")

    def scored_again(text):
        raise AssertionError(f"scored again: {text}")

    monkeypatch.setattr(services.model, "scores", scored_again)
    monkeypatch.setattr(services.model, "understand", lambda text, context=None: understood)
    assert (await turn(services, "明天会不会下雪")).kind == "fallback"
    (scores,), = items(services, "scores")
    assert json.loads(scores) == [list(pair) for pair in understood.best] and len(understood.best) == 5


async def test_a_clarification_and_the_entry_the_resident_picked(services):
    reply = await turn(services, "老人")
    assert reply.kind == "clarify"
    chosen = reply.candidates[1]
    await turn(services, callback=f"topic:{chosen}")
    (reason, candidates, picked), = items(services, "reason, candidates, picked")
    assert reason == "clarify" and json.loads(candidates) == reply.candidates and picked == chosen


async def test_a_thumbs_down_keeps_the_question_it_answered(services):
    answer = await turn(services, "老人牛奶券怎么领")
    assert answer.kind == "answer" and items(services) == []  # a plain answer is not for review
    await turn(services, callback=f"fb:n:{answer.topic}")
    assert items(services, "reason, text, decision, topic") == [("thumbs_down", "老人牛奶券怎么领", "answer", answer.topic)]


async def test_an_answer_rephrased_within_a_minute_is_kept_with_what_came_next(services):
    await turn(services, "老人牛奶券怎么领")
    await turn(services, "牛奶券在哪里领取啊")  # the same question in other words, within the minute
    assert items(services, "reason, text, followup") == [("rephrased", "老人牛奶券怎么领", "牛奶券在哪里领取啊")]
    services.clock.set(utcnow() + timedelta(minutes=2))
    await turn(services, "高龄老人牛奶券在哪领")  # two minutes later: a new question, not a rephrasing
    assert len(items(services)) == 1


async def test_another_residents_question_is_not_a_rephrasing(services):
    await turn(services, "老人牛奶券怎么领", user="u1")
    await turn(services, "牛奶券在哪里领取啊", user="u2")
    assert items(services) == []


async def test_an_emergency_alert_is_kept(services):
    reply = await turn(services, f"楼道里着火了 快来人 {PHONE}")
    assert reply.kind == "emergency"
    (reason, text, decision), = items(services)
    assert (reason, decision) == ("emergency", "emergency") and PHONE not in text and "着火" in text


async def test_staff_commands_and_menus_are_not_kept(services):
    await turn(services, "/start")
    await turn(services, callback="area:elderly")
    await turn(services, "你好")
    assert items(services) == []


async def test_items_past_the_retention_period_are_deleted_approved_examples_stay(services):
    settings = load_settings({"REVIEW_RETENTION_DAYS": "30"})
    for text in ("明天会不会下雪", "今天股票涨了吗", "附近有啥好吃的饭店"):
        await turn(services, text)
    old, kept, example = (row[0] for row in items(services, "id"))
    query_rows(services.store, "update reviewitem set created_at = ? where id in (?, ?)", utcnow() - timedelta(days=31),
               old, example)
    query_rows(services.store, "update reviewitem set status = 'approved' where id = ?", example)
    await turn(services, "老人牛奶券怎么领", user="u9")
    assert query_rows(services.store, "select count(*) from conversation where answered is not null") == [(1,)]
    query_rows(services.store, "update conversation set topic_at = ?", utcnow() - timedelta(days=2))
    assert await purge_review(services, settings) == 1
    assert [row[0] for row in items(services, "id")] == [kept, example]
    assert query_rows(services.store, "select count(*) from conversation where answered is not null") == [(0,)]


async def test_forgetting_a_resident_keeps_no_link_to_their_review_items(services):
    await turn(services, "明天会不会下雪")
    await turn(services, "老人牛奶券怎么领")
    await turn(services, "/forgetme")
    await turn(services, callback="forget:yes")
    assert items(services, "resident_id") == [(None,)]
    assert query_rows(services.store, "select count(*) from conversation") == [(0,)]  # the last answer with it


async def test_the_export_lists_the_most_frequent_questions_not_in_the_report(services, tmp_path):
    from openpyxl import load_workbook

    from bot.export.build import build_export
    from db import review as stored
    from handlers.reports import today_in_shanghai

    snow = ["明天会不会下雪", "明天会下雪吗", "明天下雪不下雪"]
    for n, text in enumerate(["今天股票涨了吗", *snow, "附近有啥好吃的饭店"]):
        await turn(services, text, user=f"r{n}")
    ids = dict(query_rows(services.store, "select text, id from reviewitem"))
    async with services.store.transaction() as session:
        await stored.label_items(session, [ids[t] for t in ["今天股票涨了吗", *snow]], "not_in_report", "web:li",
                                 services.clock())
        await stored.label_items(session, [ids["附近有啥好吃的饭店"]], "out_of_scope", "web:li", services.clock())
    today = today_in_shanghai()
    result = await build_export(services.store, services, today, today, tmp_path)
    book = load_workbook(next(p for p in result.files if p.suffix == ".xlsx"))
    rows = [row for row in book["报告中没有"].iter_rows(min_row=3, values_only=True)]
    assert [(text, count) for text, count, *_ in rows] == [(snow[-1], 3), ("今天股票涨了吗", 1)]
    assert set(rows[0][2].split("；")) == set(snow[:-1]) and result.rows["not_in_report"] == 2


async def test_a_failure_to_keep_an_item_does_not_fail_the_reply(services, caplog):
    from dataclasses import replace

    class Broken:
        def __getattr__(self, name):
            raise RuntimeError("the database is gone")

    reply = await handle(said("明天会不会下雪"), services)  # kept once, by the router
    kept = items(services)
    await review.record(said("明天会不会下雪"), reply, replace(services, store=Broken()))
    assert "could not keep a message for review" in caplog.text and items(services) == kept
