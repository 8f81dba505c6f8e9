"""`python -m bench broadcast [--subscribers N]`: an event's notices to N subscribers (default
10,000) through the real bot against the fake Bot API with Telegram's limits enforced.

The fake refuses (429 with retry_after) a message to a private chat sooner than a second after
the last one, and anything beyond the bot's 30 messages a second (a bucket of 30 refilled at 30
a second). The bot runs as in production (ChatPacer around AIORateLimiter at 30 a second, the
outbox worker, a SQLite file in a temporary folder), in this process and event loop. The
subscribers are written straight into the database; the event is published as staff publish
it (handlers/events.py, one transaction: an outbox row and a notice per subscriber).

Printed: the time to publish, the time from publishing until the last notice was accepted,
against the floor N / 30 s (10,000: 333 s, about 5.6 minutes), the messages refused (429) and
the chats that got the notice more than once or not at all. The clock the bot reads is moved to
10:00 Shanghai time when the run happens in the quiet hours (notices are held then).
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

RATE = 30.0  # Telegram's messages a second for one bot
FIRST_ID = 100_000_000  # the subscribers' Telegram user ids start here


def _subscribers(database: Path, n: int) -> None:
    now = datetime.now().isoformat(sep=" ")
    with sqlite3.connect(database) as connection:
        connection.executemany("INSERT INTO resident (channel, user_id, created_at) VALUES ('telegram', ?, ?)",
                               [(str(FIRST_ID + i), now) for i in range(n)])
        connection.execute("INSERT INTO subscription (resident_id, topic, created_at) "
                           "SELECT id, 'jobs', created_at FROM resident WHERE channel = 'telegram'")


async def _broadcast(n: int) -> int:
    from db import events as stored
    from db.clock import SHANGHAI, utcnow
    from db.store import Store
    from handlers import events
    from handlers.rules.quiet_hours import quiet_until
    from tests.bot_harness import running_bot
    from tests.fake_bot_api import FakeBotApi

    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "broadcast.db"
        store = await Store.open(f"sqlite+aiosqlite:///{database}")  # the schema
        await store.close()
        _subscribers(database, n)
        async with FakeBotApi() as server:
            for i in range(n):
                server.add_chat(FIRST_ID + i, "private")
            server.telegram_limits(per_second=RATE)
            async with running_bot(server, database, moderation=False) as bot:
                services = bot.services
                offset = timedelta()
                if quiet_until(utcnow()) is not None:
                    local = utcnow().astimezone(SHANGHAI)
                    offset = datetime.combine(local.date() + timedelta(days=local.hour >= 21), datetime.min.time(),
                                              tzinfo=SHANGHAI) + timedelta(hours=10) - local
                    print(f"(quiet hours now: the bot's clock is moved {offset} ahead, to 10:00 Shanghai time)")
                    services.clock.offset = offset
                began = time.monotonic()
                async with services.store.transaction() as session:
                    start = services.clock() + timedelta(days=7)
                    event = stored.add(session, "bench", topic="jobs_job_fairs", title_zh="春季招聘会", start=start,
                                       place="塘桥社区文化中心", how="现场带简历")
                    await session.flush()
                    queued, _ = await events.publish(session, event, services)
                published = time.monotonic()
                print(f"published to {queued:,} subscribers in {published - began:.1f} s")
                ideal = n / RATE
                report_at = published + 30
                while True:
                    delivered = sum(1 for m in server.sent if m.chat_id >= FIRST_ID)
                    if delivered >= n:
                        break
                    if time.monotonic() >= report_at:
                        report_at += 30
                        print(f"  {time.monotonic() - published:5.0f} s: {delivered:,} sent, {server.over_limit} over the "
                              f"overall limit, {len([c for c in server.calls if c.status == 429])} refused with 429", flush=True)
                    if time.monotonic() - published > ideal * 3 + 60:
                        print("gave up: far slower than the floor")
                        break
                    await asyncio.sleep(0.2)
                accepted = [c.at for c in server.calls if c.status == 200 and c.method == "sendMessage"]
                took = max(accepted) - published if accepted else 0.0
                async with services.store.transaction() as session:
                    progress = await stored.progress(session, event.id)
        per_chat = Counter(m.chat_id for m in server.sent if m.chat_id >= FIRST_ID)
        twice = sum(1 for count in per_chat.values() if count > 1)
        missing = n - len(per_chat)
        refused = Counter((c.method, c.status) for c in server.calls if c.status != 200)
        print(f"subscribers: {n:,}")
        print(f"time taken: {took:.1f} s for {sum(per_chat.values()):,} notices "
              f"({sum(per_chat.values()) / took if took else 0:.1f} a second)")
        print(f"floor at {RATE:.0f}/s: {ideal:.1f} s; taken / floor = {took / ideal:.3f} (aim: at most 1.10)")
        print(f"sent twice: {twice}; not sent: {missing}; refused requests: {dict(refused) or 'none'}; "
              f"429 for the overall limit: {server.over_limit}; too early for a chat: {len(server.too_early)}")
        print(f"staff see: {events.staff_say(services, 'progress', 'en', number=1, progress=progress)}")
        return 0 if not twice and not missing else 1


def bench_broadcast(subscribers: int = 10_000) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(_broadcast(subscribers))
