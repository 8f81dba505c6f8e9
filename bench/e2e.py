"""`python -m bench e2e`: the real bot, end to end, against the fake Bot API on loopback.

    python -m bench e2e [--residents N] [--seconds S] [--rounds R] [--in-process]

Three kinds of phase, each with a fresh fake Bot API server, a fresh bot and (for our bot) a fresh
SQLite file in a temporary folder, deleted at the end:

(c) a bare PTB echo bot (one MessageHandler replying with the text): the framework's ceiling;
(a) questions: N residents each ask (real topic questions in Chinese and English, greetings,
    out-of-scope questions; all one-message replies) and ask again as soon as the answer
    arrived (closed loop);
(b) complaint dialogs: N residents each file complaints, step by step (complaint text, place,
    "skip" photos, "skip" phone, "submit"), until the ticket number arrives, then start the
    next; the moderation chat is configured, so every ticket goes out to it through the outbox
    worker (its card, or for a report merged with an open one the staff alert), and the run
    waits until every ticket number a resident was shown has reached the moderation chat.

Phases (c) and (a) alternate R times (default 2), and the share is that of the means: the echo
bot's figure alone moves by a third from run to run on a shared 2-core machine.

Each phase: start-up (until the bot's first getUpdates), the residents start within the first
second, a warm-up that is not counted (3 s; for complaints, until every resident has had five
replies: they start out of step, so that tickets then come out evenly rather than in waves),
then S seconds measured, after which the residents stop at once and the bot is stopped.
Latency runs from the moment an update is queued for getUpdates to the moment its reply is
accepted by sendMessage, both stamped in the fake server, with one clock. Throughput counts
the replies accepted within the measured seconds. Closed loop: with N residents waiting, the
latency is about N / throughput.

Fair to both bots: the same fake server, polling (poll_interval=0, timeout=1 s), allowed
updates, concurrent_updates (read from build_application) and rate limiter: AIORateLimiter
without Telegram's caps (30 messages/s overall, 20/min per group), else the benchmark would
measure the limiter. Our bot also gets the per-resident throttle lifted (20 messages/min: the
simulated residents type much faster than people), its ChatPacer without the one message a second
per chat, and TICKETS_PER_DAY raised.

By default each bot runs in a process of its own (`python -c ... child_main`), and this
process holds the fake server and the residents: on a 2-core machine the fake server then
does not take the bot's CPU, and the bot's peak RSS is its own. `--in-process` runs the bot
in this process and event loop instead (the way tests/bot_harness.py does), to compare.

The fake server is tests/fake_bot_api.py, imported (not copied) from the tests package, so
run this from the project folder. It is subclassed only to hand each accepted message to the
waiting resident and to keep memory flat under load (refused calls are kept, the rest counted).

This module runs the phases and prints the report; the bots and their processes' figures are in
bench/e2e_bots.py, the fake server's load (the residents and what they say) in bench/e2e_load.py.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import telegram

from bench.e2e_bots import (
    MODERATION,
    POLL_INTERVAL,
    POLL_TIMEOUT,
    ROOT,
    TICKETS_PER_DAY,
    TOKEN,
    BenchError,
    BotConfig,
    ChildBot,
    InProcessBot,
    Meter,
)
from bench.e2e_load import (
    DIALOG_STEPS,
    RAMP,
    REPLY_TIMEOUT,
    TICKET_NUMBER,
    Tally,
    Window,
    ask_questions,
    bench_server_class,
    file_complaints,
    workload,
)

DEFAULT_RESIDENTS = 200
DEFAULT_SECONDS = 10.0
DEFAULT_ROUNDS = 2  # echo and questions alternate: the share is not one noisy pair
WARMUP = 3.0  # seconds of load before measuring: first contacts, caches, connection pools
WARMUP_LIMIT = 40.0  # complaints: the longest warm-up (see file_complaints)
START_TIMEOUT = 60.0  # from launching a bot to its first getUpdates
OUTBOX_TIMEOUT = 30.0  # for the last card to reach the moderation chat after the last ticket
TELEGRAM_CEILING = 30  # messages a second Telegram lets one bot send (its broadcast limit)
AIM = 0.60  # our question throughput as a share of the echo bot's

FIRST_RESIDENT = 10_001





# --------------------------------------------------------------------------------------------
# A phase: a fresh server and bot, the residents, the figures
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float
    warmup: float
    replies: list[float]  # latencies (s) of the replies accepted in the window
    dialogs: list[float]
    tally: Tally
    max_rss_kb: int | None
    rss_start_kb: int | None
    bot_cpu: float | None
    own_cpu: float | None
    problems: list[str]  # what the bot logged at WARNING or above
    refused: list[Any]  # the Bot API calls the fake server refused (tests.fake_bot_api.Call)
    calls: int
    outbox: str = ""
    undelivered: int = 0  # ticket numbers that did not reach the moderation chat

    @property
    def rate(self) -> float:
        return len(self.replies) / self.seconds

    @property
    def dialog_rate(self) -> float:
        return len(self.dialogs) / self.seconds


async def run_phase(name: str, kind: str, residents: int, seconds: float, in_process: bool, config: dict[str, Any],
                    work, database: Path | None = None, until_first_dialog: bool = False) -> Result:
    """A fresh fake server and bot; the residents' warm-up, then `seconds` measured."""
    server = bench_server_class()()
    await server.start()
    bot = InProcessBot() if in_process else ChildBot()
    try:
        if kind == "ours":
            server.add_chat(MODERATION, "supergroup", title="塘桥街道 工单")
        await bot.start(BotConfig(kind=kind, base_url=server.base_url, **config,
                                  database_url=f"sqlite+aiosqlite:///{database}" if database else ""))
        ready = asyncio.ensure_future(server.polled.wait())
        exited = asyncio.ensure_future(bot.exited())
        await asyncio.wait([ready, exited], timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        exited.cancel()
        if not ready.done():
            ready.cancel()
            failure = exited.exception() if exited.done() and not exited.cancelled() else None
            raise BenchError(f"the {name} bot did not start polling within {START_TIMEOUT:.0f} s"
                             f"{f' ({failure!r})' if failure else ''}:\n{bot.log_tail()}")

        tally, window, meter = Tally(residents), Window(), Meter(bot.pid)
        users = range(FIRST_RESIDENT, FIRST_RESIDENT + residents)
        load = asyncio.gather(*(work(server, user, window, tally) for user in users))
        try:
            began = time.perf_counter()
            if until_first_dialog:  # until every resident has gone through a dialog's worth of steps
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(tally.warm.wait(), WARMUP_LIMIT)
            else:
                await asyncio.sleep(WARMUP)
            warmup = time.perf_counter() - began
            window.open(seconds)
            meter.window_opens()
            await asyncio.sleep(seconds)
            meter.window_closes()
            if load.done():  # every resident gave up early (no reply within REPLY_TIMEOUT), or a bug
                load.result()
        finally:
            meter.stop()
            load.cancel()  # replies still on their way are not waited for
            await asyncio.gather(load, return_exceptions=True)

        outbox, undelivered = "", 0
        if kind == "ours" and tally.tickets:
            outbox, undelivered = await _wait_for_moderation(server, tally)
        problems = bot.problems()
        refused, calls = list(server.calls), server.calls.total  # not the getUpdates the stop cuts short
        fake_log = logging.getLogger("tests.fake_bot_api")
        fake_log.disabled = True  # a getUpdates cut short by the bot stopping is no bug of the fake
        try:
            stats = await bot.stop()
        finally:
            fake_log.disabled = False
    except BaseException:
        bot.kill()
        raise
    finally:
        await server.close()
    replies = [done - sent for sent, done in tally.replies if done in window]
    dialogs = [done - sent for sent, done in tally.dialogs if done in window]
    return Result(name, seconds, warmup, replies, dialogs, tally, stats.get("max_rss_kb", meter.rss_peak), meter.rss_start,
                  meter.bot_cpu, meter.own_cpu, problems, refused, calls, outbox, undelivered)


async def _wait_for_moderation(server, tally: Tally) -> tuple[str, int]:
    """Every ticket number a resident was shown must reach the moderation chat through the
    outbox: in the ticket's card or, for a report merged with an open ticket, in the alert
    under that one's card. Wait for all of them; (what happened, how many are missing)."""
    inbox = server.inbox(MODERATION)
    missing, expected, last = set(tally.tickets), len(tally.tickets), 0.0
    deadline = time.perf_counter() + OUTBOX_TIMEOUT
    while missing and (remaining := deadline - time.perf_counter()) > 0:
        try:
            stamp, message = await asyncio.wait_for(inbox.get(), remaining)
        except TimeoutError:
            break
        if found := missing.intersection(TICKET_NUMBER.findall(message.plain_text)):
            missing -= found
            last = stamp
    late = max(0.0, last - tally.last_ticket)
    return (f"{expected - len(missing)} of {expected} reached the moderation chat through the outbox (cards, or alerts "
            f"for merged reports), the last {late:.2f} s after the last ticket number"), len(missing)


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


def _ms(samples: list[float]) -> str:
    if not samples:
        return "n/a"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered) * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms"


def _mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.0f} MB"


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.0f}%"


def _load() -> str:
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load average n/a"


def _process_line(result: Result, in_process: bool) -> str:
    if in_process:
        return (f"    process (bot + fake server + residents): peak RSS {_mb(result.max_rss_kb)} (sampled), "
                f"CPU {_pct(result.bot_cpu)} of a core")
    return (f"    bot process: peak RSS {_mb(result.max_rss_kb)} (at start-up {_mb(result.rss_start_kb)}), "
            f"CPU {_pct(result.bot_cpu)} of a core; fake server + residents: CPU {_pct(result.own_cpu)}")


def _health(result: Result) -> list[str]:
    tally, notes = result.tally, []
    if tally.timeouts:
        notes.append(f"{tally.timeouts} replies not received within {REPLY_TIMEOUT:.0f} s")
    if tally.extra:
        notes.append(f"{tally.extra} unexpected extra messages")
    if tally.failed:
        notes.append(f"{len(tally.failed)} dialogs went astray, e.g. {tally.failed[0]!r}")
    if result.refused:
        first = result.refused[0]
        notes.append(f"{len(result.refused)} of {result.calls} Bot API calls refused by the fake server, the first: "
                     f"{first.method} {first.status}")
    if result.undelivered:
        notes.append(f"{result.undelivered} tickets never reached the moderation chat")
    if result.problems:
        notes.append(f"{len(result.problems)} warnings or errors logged by the bot, the first: {result.problems[0][:200]}")
    return [f"    !! {note}" for note in notes] or [f"    checks: all replies arrived, {result.calls} Bot API calls, none refused, "
                                                  f"no warnings or errors logged"]


def bench_e2e(residents: int = DEFAULT_RESIDENTS, seconds: float = DEFAULT_SECONDS, in_process: bool = False,
              rounds: int = DEFAULT_ROUNDS) -> int:
    if residents < 1 or seconds <= 0 or rounds < 1:
        print("error: --residents and --rounds must be at least 1 and --seconds more than 0", file=sys.stderr)
        return 2
    try:
        bench_server_class()
    except ImportError as error:
        print(f"error: bench e2e needs the fake Bot API of the tests package (run it from {ROOT}): {error}",
              file=sys.stderr)
        return 2
    logging.getLogger().setLevel(logging.WARNING)  # the figures are printed; the bot's INFO lines would bury them
    try:
        return asyncio.run(_bench(residents, seconds, in_process, rounds))
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


async def _bench(residents: int, seconds: float, in_process: bool, rounds: int) -> int:
    from bot.channels.telegram import ALLOWED_UPDATES, build_application
    from bot.settings import load_settings

    # Both bots take updates as our application does.
    ours = build_application(load_settings({"TELEGRAM_BOT_TOKEN": TOKEN}))
    shared = {"concurrent_updates": ours.update_processor.max_concurrent_updates,
              "allowed_updates": tuple(ALLOWED_UPDATES)}
    work = await workload()
    where = InProcessBot.where if in_process else ChildBot.where
    started = datetime.now().astimezone()
    print(f"bench e2e, {started:%Y-%m-%d %H:%M %Z}: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, python-telegram-bot {telegram.__version__}; {_load()}")
    print(f"  fake Bot API (tests/fake_bot_api.py) on 127.0.0.1; each bot runs in {where}")
    print(f"  both bots: polling poll_interval={POLL_INTERVAL:g}, timeout={POLL_TIMEOUT} s; "
          f"concurrent_updates={shared['concurrent_updates']} (as build_application sets it); rate limiter "
          f"AIORateLimiter(overall_max_rate=0, group_max_rate=0): without Telegram's 30/s and 20/min-per-group caps")
    print(f"  our bot: fresh SQLite file per phase; per-resident throttle (20/min) lifted; TICKETS_PER_DAY={TICKETS_PER_DAY}")
    print(f"  load: {residents} residents, closed loop (the next message when the reply arrived), starting within "
          f"{RAMP:g} s; warm-up {WARMUP:g} s (complaints: until each resident has had {DIALOG_STEPS} replies), "
          f"then {seconds:g} s measured; latency = update queued for getUpdates -> reply accepted at sendMessage")
    mix = ", ".join(f"{n} {kind}" for kind, n in sorted(work.mix.items(), key=lambda kv: -kv[1]))
    english = sum(lang == "en" for _, lang in work.questions)
    print(f"  questions: {len(work.questions)} from {work.source} and a few greetings and out-of-scope ones "
          f"({mix}; {len(work.questions) - english} Chinese, {english} English); {len(work.complaints)} complaint texts")
    print(flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as folder:
        def questions(server, user, window, tally):
            return ask_questions(server, user, work.questions, window, tally)

        def complaints(server, user, window, tally):
            return file_complaints(server, user, work.complaints, window, tally)

        echoes, asks = [], []
        for number in range(1, rounds + 1):
            echo = await run_phase("echo", "echo", residents, seconds, in_process, shared, questions)
            print(f"(c) round {number}, bare PTB echo bot, the framework's ceiling: {echo.rate:.0f} messages/s; "
                  f"latency {_ms(echo.replies)}")
            print(_process_line(echo, in_process))
            print("\n".join(_health(echo)), flush=True)
            asked = await run_phase("questions", "ours", residents, seconds, in_process, shared, questions,
                                    Path(folder) / f"questions-{number}.db")
            print(f"(a) round {number}, questions: {asked.rate:.0f} answered/s = "
                  f"{asked.rate / echo.rate * 100 if echo.rate else 0:.0f}% of this round's echo bot; latency {_ms(asked.replies)}")
            print(_process_line(asked, in_process))
            print("\n".join(_health(asked)), flush=True)
            echoes.append(echo)
            asks.append(asked)
        echo_rate, asked_rate = (statistics.mean(r.rate for r in results) for results in (echoes, asks))
        share = asked_rate / echo_rate if echo_rate else 0.0
        print(f"==> questions: {asked_rate:.0f} answered/s = {share * 100:.0f}% of the echo bot's {echo_rate:.0f}/s "
              f"(means of {rounds} rounds; aim: at least {AIM * 100:.0f}%{'' if share >= AIM else ', not reached'})",
              flush=True)

        filed = await run_phase("complaints", "ours", residents, seconds, in_process, shared, complaints,
                                Path(folder) / "complaints.db", until_first_dialog=True)
        tally = filed.tally
        unique = "all distinct" if len(set(tally.tickets)) == len(tally.tickets) else "SOME REPEATED"
        print(f"(b) complaint dialogs (5 steps: text, place, skip photos, skip phone, submit): "
              f"{filed.dialog_rate:.1f} tickets/s ({filed.rate:.0f} steps/s; warm-up {filed.warmup:.0f} s)")
        print(f"    latency per step {_ms(filed.replies)}; per dialog {_ms(filed.dialogs)}")
        print(f"    {len(tally.tickets)} ticket numbers shown ({unique}; {tally.duplicates} reports merged with an open "
              f"ticket of the same place); {filed.outbox}")
        print(_process_line(filed, in_process))
        print("\n".join(_health(filed)), flush=True)

    print(f"Telegram lets a bot send about {TELEGRAM_CEILING} messages/s: the echo bot does {echo_rate / TELEGRAM_CEILING:.1f}x "
          f"that, our questions {asked_rate / TELEGRAM_CEILING:.1f}x, our complaint steps {filed.rate / TELEGRAM_CEILING:.1f}x.")
    print("Closed loop: latency is about residents / throughput (Little's law); try --residents 1 for an idle bot's latency.")
    print(f"At the end: {_load()}. Other busy processes on the machine lower every figure.")
    clean = all(not (r.tally.timeouts or r.tally.failed or r.refused or r.undelivered) for r in (*echoes, *asks, filed))
    return 0 if clean else 1
