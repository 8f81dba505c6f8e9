"""`python -m bench match`: the model's latency per message and start-up time, printed.

Questions: ../shared/eval/dev.jsonl when present, else every sample question of the content
base. Start-up is measured in a fresh interpreter: imports, content loaded, model loaded from
its cache, first answer; and once more with the cache emptied (training included).
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.startup import build_core
from content.check import DEFAULT_TOPICS
from handlers.router import answer_text

DEV_SET = DEFAULT_TOPICS.parent / "dev.jsonl"
_STARTUP = (
    "import time; t = time.perf_counter(); from bot.startup import build_core; "
    "s = build_core(); s.model.understand('老人牛奶券怎么领'); print(time.perf_counter() - t)"
)


def _questions(services) -> list[str]:
    if DEV_SET.exists():
        return [json.loads(line)["q"] for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [q for e in services.content.entries.values() for q in [*e.questions.zh, *e.questions.en]]


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms, max {ordered[-1] * 1e3:.3f} ms"


def _startup(env: dict | None = None) -> float:
    out = subprocess.run([sys.executable, "-c", _STARTUP], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent, env=env)
    return float(out.stdout.strip())


def bench_match(rounds: int = 20) -> int:
    with tempfile.TemporaryDirectory() as empty:
        untrained = _startup({**os.environ, "TANGQIAO_CACHE_DIR": empty})
    startups = [_startup() for _ in range(3)]
    services = build_core()
    questions = _questions(services)
    match_times, full_times = [], []
    for _ in range(rounds):
        for q in questions:
            t = time.perf_counter()
            services.model.understand(q)
            match_times.append(time.perf_counter() - t)
    loop = asyncio.new_event_loop()
    for _ in range(rounds):
        for q in questions:
            t = time.perf_counter()
            loop.run_until_complete(answer_text(q, "zh", None, services))
            full_times.append(time.perf_counter() - t)
    loop.close()
    print(f"questions: {len(questions)} x {rounds} rounds ({'dev set' if DEV_SET.exists() else 'content samples'})")
    print(f"model.understand:          {_percentiles(match_times)}")
    print(f"answer (model+template):   {_percentiles(full_times)}")
    print(f"start-up to first answer: best {min(startups):.3f} s, worst {max(startups):.3f} s (3 fresh interpreters)")
    print(f"the same with no cached model (trains first): {untrained:.3f} s")
    return 0
