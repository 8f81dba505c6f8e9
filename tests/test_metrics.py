"""/metrics of `python -m bot serve`, scraped over HTTP on loopback: a question, a report, a staff
reply and an emergency each move their figures (the real serve(), PTB behind /telegram, the fake
Bot API for its sends, a SQLite file)."""
from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot import lifecycle
from bot import web as bot_web
from bot.settings import load_settings
from tests.bot_harness import MODERATION, RESIDENT, STAFF, free_port, moderation_group, until_listening
from tests.fake_bot_api import FakeBotApi, SentMessage

SECRET = "metrics-secret"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(figures: dict, name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_question_a_report_a_staff_reply_and_an_emergency_move_the_metrics(server: FakeBotApi, tmp_path):
    moderation_group(server)
    port = free_port()
    settings = load_settings({"TELEGRAM_BOT_TOKEN": server.token, "TELEGRAM_BASE_URL": server.base_url,
                              "WEBHOOK_SECRET": SECRET, "DATABASE_URL": f"sqlite:///{tmp_path / 'metrics.db'}",
                              "MODERATION_CHAT_ID": str(MODERATION), "HOST": "127.0.0.1", "PORT": str(port)})
    stop = asyncio.Event()
    task = asyncio.create_task(lifecycle.serve(settings, stop))
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await until_listening(http, base, task)

            async def scrape() -> dict:
                async with http.get(f"{base}/metrics") as response:
                    assert response.status == 200
                    assert response.headers["Content-Type"].startswith("text/plain; version=")
                    return samples(await response.text())

            async def post(update: dict) -> None:
                async with http.post(f"{base}/telegram", json=update, headers={bot_web.SECRET_HEADER: SECRET}) as response:
                    assert response.status == 200

            async def say(update: dict, chat: int = RESIDENT) -> SentMessage:
                await post(update)
                [message] = await server.wait_for_messages(chat, 1)
                return message

            before = await scrape()
            answer = await say(server.push_text(RESIDENT, "老人的牛奶券怎么领"))
            assert "牛奶券" in answer.plain_text

            where = await say(server.push_text(RESIDENT, "楼道里的路灯坏了一个星期了,晚上黑漆漆的"))
            photos = await say(server.push_text(RESIDENT, "峨山路91弄5号楼"))
            phone = await say(server.push_callback(RESIDENT, "ik:skip", photos.message_id))
            confirm = await say(server.push_callback(RESIDENT, "ik:skip", phone.message_id))
            created = await say(server.push_callback(RESIDENT, "ik:submit", confirm.message_id))
            assert "哪里" in where.plain_text and "TQ-" in created.plain_text
            [card] = await server.wait_for_messages(MODERATION, 1)
            reported = await scrape()  # the card may still be on its way: depth 0 or 1, then sent

            await post(server.push_group_text(MODERATION, STAFF, "已通知物业,明天修好。", reply_to=card.message_id))
            [relayed] = await server.wait_for_messages(RESIDENT, 1)
            assert "已通知物业" in relayed.plain_text

            advice = await say(server.push_text(RESIDENT, "我妈晕倒了叫不醒"))
            assert "120" in advice.plain_text
            await server.wait_for_messages(MODERATION, 2)  # the staff reply's acknowledgement, the alert

            async def settled() -> dict:  # until the worker has recorded the alert as sent
                for _ in range(200):
                    figures = await scrape()
                    if value(figures, "tangqiao_outbox_sent_total", channel="telegram", purpose="alert") > \
                            value(before, "tangqiao_outbox_sent_total", channel="telegram", purpose="alert"):
                        return figures
                    await asyncio.sleep(0.02)
                raise AssertionError("the alert was not counted as sent")

            after = await settled()
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("tangqiao_updates_total", channel="telegram", kind="answer") >= 1
    assert moved("tangqiao_updates_total", channel="telegram", kind="complaint") >= 5
    assert moved("tangqiao_updates_total", channel="telegram", kind="emergency") == 1
    assert moved("tangqiao_emergencies_total", channel="telegram") == 1
    assert moved("tangqiao_reply_seconds_count", channel="telegram") == 8  # every update above, the staff reply too
    assert moved("tangqiao_outbox_sent_total", channel="telegram", purpose="card") == 1
    assert moved("tangqiao_outbox_sent_total", channel="telegram", purpose="reply") == 1  # the staff reply
    assert moved("tangqiao_outbox_sent_total", channel="telegram", purpose="alert") == 1
    assert value(reported, "tangqiao_tickets", status="new") == 1 and value(before, "tangqiao_tickets", status="new") == 0
    assert sum(v for (name, _), v in after.items() if name == "tangqiao_tickets") == 1
    assert value(reported, "process_resident_memory_bytes") > 0


async def test_the_outbox_gauges_show_what_waits_and_for_how_long(services):
    from datetime import timedelta

    from bot import metrics
    from db import outbox
    from db.clock import utcnow

    async with services.store.transaction() as session:
        old = outbox.enqueue(session, "telegram", 1, "notice", "a notice held until 8:00")
        old.created_at = utcnow() - timedelta(hours=3)
        outbox.enqueue(session, "telegram", 2, "notice", "another")
        sent = outbox.enqueue(session, "telegram", 3, "card", "delivered already")
        outbox.start_sending(sent)  # (a row is sent from "sending" only)
        outbox.mark_sent(sent, "17", utcnow())
    await metrics.refresh(services)
    figures = samples(metrics.exposition().decode())
    assert value(figures, "tangqiao_outbox_depth", purpose="notice") == 2
    assert 3 * 3600 - 60 < value(figures, "tangqiao_outbox_oldest_seconds", purpose="notice") < 3 * 3600 + 60
    assert ("tangqiao_outbox_depth", (("purpose", "card"),)) not in figures  # nothing of it waits
