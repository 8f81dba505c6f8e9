"""`python -m bench retrain`: residents' reply latency while the model retrains (issue 25), printed.

A fresh SQLite database and model cache; a batch of approved examples; questions answered
through the real router one after another (as fast as they come back), first with nothing else
going on, then while bot/retrain.py trains the new model in a child process and swaps it in.
Then a rollback: the swap alone, back to the files' model. Also the event loop's lag (how late a
10 ms ticker wakes), which shows any blocking of the loop: the swap reads the model's file in a
thread.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

TICK = 0.01


def _figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (f"n={len(ordered)}, median {statistics.median(ordered) * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, "
            f"max {ordered[-1] * 1e3:.2f} ms")


async def _lag(stop: asyncio.Event, out: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        at = loop.time()
        await asyncio.sleep(TICK)
        out.append(loop.time() - at - TICK)


async def _ask(services, questions: list[str], until, latencies: list[float]) -> None:
    from handlers.router import handle
    from handlers.types import Inbound

    n = 0
    while not until():
        text = questions[n % len(questions)]
        inbound = Inbound("console", f"bench{n % 50}", f"bench{n % 50}", text=text, update_key=f"bench-{n}")
        started = time.perf_counter()
        await handle(inbound, services)  # its review item kept too, as the bot does
        latencies.append(time.perf_counter() - started)
        n += 1
        await asyncio.sleep(0)


async def _run(folder: Path, seconds: float) -> None:
    from bot.retrain import ModelKeeper
    from bot.startup import build_core
    from content.live_model import LiveModel
    from content.model_cache import content_hash, model_path
    from db import review
    from db.models import ReviewItem
    from db.store import Store
    from handlers.throttle import Throttle

    core = build_core()
    store = await Store.open(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    services = replace(core, store=store, model=LiveModel(core.model, content_hash()), throttle=Throttle(limit=10**9))
    entries = list(services.content.entries.values())
    questions = [q for e in entries for q in e.questions.zh][:200]
    async with store.transaction() as session:  # 60 approved examples: entries' questions said another way
        for entry in entries[:60]:
            session.add(ReviewItem(reason="fallback", text=f"请问{entry.questions.zh[0]}呀", status="labelled", label=entry.id))
        await session.flush()
        await review.approve(session, None, "bench", services.clock())

    for phase in ("idle", "retraining", "rollback"):
        latencies, lags, stop = [], [], asyncio.Event()
        ticker = asyncio.create_task(_lag(stop, lags))
        keeper = ModelKeeper(services)
        started = time.perf_counter()
        if phase == "idle":
            await _ask(services, questions, lambda at=started: time.perf_counter() - at > seconds, latencies)
        elif phase == "retraining":
            await keeper.poll()
            await _ask(services, questions, keeper.training.done, latencies)
            await keeper.training
        else:  # the swap alone: back to the files' model, read from the cache in a thread
            async with store.transaction() as session:
                await review.rollback(session)
            swap = asyncio.create_task(keeper.swap_in_current())
            await _ask(services, questions, swap.done, latencies)
            await swap
        stop.set()
        await ticker
        took = time.perf_counter() - started
        print(f"{phase:<11} {took:6.1f} s  replies: {_figures(latencies)}")
        print(f"{'':<11} {'':8}  loop lag: {_figures(lags)}")
    print(f"model now: version {services.model.version} ({services.model.model_hash}); "
          f"cache file {model_path(services.model.model_hash).stat().st_size / 1e6:.1f} MB")
    await store.close()


def bench_retrain(seconds: float = 10.0) -> int:
    from content.model_cache import cache_dir, content_hash, model_path

    files_model = model_path(content_hash())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["TANGQIAO_CACHE_DIR"] = str(folder / "cache")  # the child process trains into it too
        cache_dir().mkdir()
        if files_model.exists():
            shutil.copy(files_model, model_path(content_hash()))
        print(f"{os.cpu_count()} CPUs; questions through the router with SQLite, one at a time")
        asyncio.run(_run(folder, seconds))
    return 0
