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
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import platform
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import telegram
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_RESIDENTS = 200
DEFAULT_SECONDS = 10.0
DEFAULT_ROUNDS = 2  # echo and questions alternate: the share is not one noisy pair
RAMP = 1.0  # residents start at random moments of the first second: no burst of 200 connections
# at once in PTB's httpx pool (a connection pool that large makes every request slower until
# httpx prunes the idle ones after 5 s)
WARMUP = 3.0  # seconds of load before measuring: first contacts, caches, connection pools
POLL_INTERVAL = 0.0
POLL_TIMEOUT = 1  # seconds a getUpdates waits when nothing is pending
REPLY_TIMEOUT = 30.0  # a resident gives up on a reply after this long (reported; should never happen)
WARMUP_LIMIT = 40.0  # complaints: the longest warm-up (see file_complaints)
START_TIMEOUT = 60.0  # from launching a bot to its first getUpdates
STOP_TIMEOUT = 30.0  # for a bot to stop once told to
OUTBOX_TIMEOUT = 30.0  # for the last card to reach the moderation chat after the last ticket
TELEGRAM_CEILING = 30  # messages a second Telegram lets one bot send (its broadcast limit)
AIM = 0.60  # our question throughput as a share of the echo bot's

TOKEN = "123456:TEST-token_for-the-fake-api"
MODERATION = -1001234567890  # an ordinary supergroup: cards as messages, alerts as replies to them
FIRST_RESIDENT = 10_001
UNTHROTTLED = 1_000_000_000  # Throttle limit for the benchmark: the check runs, never trips
TICKETS_PER_DAY = 1_000_000
TICKET_NUMBER = re.compile(r"TQ-\d{4}-\d{4,}")
DIALOG_STEPS = 5  # complaint, place, skip photos, skip phone, submit

GREETINGS = [("你好", "zh"), ("您好,在吗", "zh"), ("谢谢", "zh"), ("hello", "en"), ("thanks!", "en")]
OUT_OF_SCOPE = [("今天人民币对美元汇率是多少", "zh"), ("推荐一部好看的电影", "zh"),
                ("What's the weather in Beijing tomorrow?", "en"), ("Who won the football match last night?", "en")]
COMPLAINTS = ["楼道里的路灯坏了一个星期了,晚上黑漆漆的", "小区门口的垃圾好几天没人清运了,臭得要命",
              "楼下的窨井盖松动了,走上去哐当响,很危险", "隔壁装修每天早上七点就开始电钻,吵得没法休息"]
ROADS = ["峨山路", "塘桥路", "蓝村路", "南泉路", "浦东南路", "东方路", "张杨路", "浦建路"]


class BenchError(Exception):
    """The benchmark could not run (a bot did not start or stop, a resident got no reply, ...)."""


# --------------------------------------------------------------------------------------------
# The bot side: run in a child process (child_main) or in this one (--in-process)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BotConfig:
    kind: str  # "echo" or "ours"
    base_url: str
    database_url: str = ""
    concurrent_updates: int = 256
    allowed_updates: tuple[str, ...] = ("message", "callback_query")
    token: str = TOKEN


def bench_rate_limiter() -> AIORateLimiter:
    """PTB's limiter with Telegram's caps off (0 = no limit), retries as in production."""
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=2)


def echo_application(config: BotConfig) -> Application:
    """The framework's ceiling: one MessageHandler that sends the text back."""

    async def echo(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.send_message(update.effective_chat.id, update.message.text)

    application = (ApplicationBuilder().token(config.token).base_url(config.base_url)
                   .rate_limiter(bench_rate_limiter()).concurrent_updates(config.concurrent_updates).build())
    application.add_handler(MessageHandler(filters.TEXT, echo))
    return application


@contextlib.asynccontextmanager
async def running_bot(config: BotConfig) -> AsyncIterator[Application]:
    """A bot polling the fake server, started and stopped as run_polling does it."""
    services = None
    if config.kind == "echo":
        application = echo_application(config)
    else:
        from bot.channels.telegram import build_application
        from bot.channels.telegram_pacing import ChatPacer
        from bot.settings import load_settings
        from bot.startup import build_services, close_services
        from handlers.throttle import Throttle

        settings = load_settings({  # explicit: never the .env of a real deployment
            "TELEGRAM_BOT_TOKEN": config.token,
            "TELEGRAM_BASE_URL": config.base_url,
            "DATABASE_URL": config.database_url,
            "MODERATION_CHAT_ID": str(MODERATION),
            "TICKETS_PER_DAY": str(TICKETS_PER_DAY),
        })
        services = await build_services(settings)
        services.throttle = Throttle(limit=UNTHROTTLED)
        application = build_application(settings, services, rate_limiter=ChatPacer(bench_rate_limiter(), interval=0))
    try:
        await application.initialize()
        if application.post_init:
            await application.post_init(application)
        await application.start()
        await application.updater.start_polling(poll_interval=POLL_INTERVAL, timeout=POLL_TIMEOUT,
                                                allowed_updates=list(config.allowed_updates))
        yield application
    finally:
        if application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
            if application.post_stop:
                await application.post_stop(application)
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)
        if services is not None:
            await close_services(services)


def child_main(config_json: str) -> int:
    """The bot process: run until stdin closes, then print {"max_rss_kb": ...} on stdout."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = BotConfig(**json.loads(config_json))

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stdin = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
        async with running_bot(config):
            await stdin.read()  # EOF: the parent is done (or gone)

    asyncio.run(run())
    with contextlib.suppress(BrokenPipeError):  # the parent is gone
        print(json.dumps({"max_rss_kb": _max_rss_kb()}), flush=True)
    return 0


_CHILD = "import sys; from bench.e2e import child_main; sys.exit(child_main(sys.argv[1]))"


class ChildBot:
    """A bot in a process of its own; it stops when its stdin closes."""

    where = "a process of its own"

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self._stderr = tempfile.TemporaryFile()

    async def start(self, config: BotConfig) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CHILD, json.dumps(asdict(config)), cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=self._stderr)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def exited(self) -> None:
        await self.process.wait()

    async def stop(self) -> dict[str, Any]:
        self.process.stdin.close()  # the child's signal to stop
        try:
            out, _ = await asyncio.wait_for(self.process.communicate(), STOP_TIMEOUT)
        except TimeoutError:
            self.kill()
            raise BenchError(f"the bot did not stop within {STOP_TIMEOUT:.0f} s; killed") from None
        lines = out.decode(errors="replace").strip().splitlines()
        if self.process.returncode != 0 or not lines:
            raise BenchError(f"the bot exited with status {self.process.returncode}:\n{self.log_tail()}")
        return json.loads(lines[-1])

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()

    def problems(self) -> list[str]:
        """What the bot logged at WARNING or above (the first line of each record)."""
        self._stderr.seek(0)
        return [line.decode(errors="replace").rstrip() for line in self._stderr
                if line.split(b" ", 1)[0] in (b"WARNING", b"ERROR", b"CRITICAL")]

    def log_tail(self, lines: int = 30) -> str:
        self._stderr.seek(0)
        return b"".join(self._stderr.readlines()[-lines:]).decode(errors="replace")


class _Problems(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


class InProcessBot:
    """The bot in this process and event loop, beside the fake server and the residents."""

    where = "this process and event loop, beside the fake server and the residents"

    def __init__(self) -> None:
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._problems = _Problems()

    async def start(self, config: BotConfig) -> None:
        logging.getLogger().addHandler(self._problems)

        async def run() -> None:
            async with running_bot(config):
                await self._stop.wait()

        self._task = asyncio.create_task(run(), name=f"{config.kind} bot")

    @property
    def pid(self) -> int:
        return os.getpid()

    async def exited(self) -> None:
        await asyncio.shield(self._task)

    async def stop(self) -> dict[str, Any]:
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, STOP_TIMEOUT)
        except TimeoutError:
            raise BenchError(f"the bot did not stop within {STOP_TIMEOUT:.0f} s") from None
        finally:
            logging.getLogger().removeHandler(self._problems)
        return {}

    def kill(self) -> None:
        self._stop.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def problems(self) -> list[str]:
        return list(self._problems.lines)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self._problems.lines[-lines:])


# --------------------------------------------------------------------------------------------
# Process figures (Linux /proc; "n/a" elsewhere)
# --------------------------------------------------------------------------------------------


def _max_rss_kb() -> int:
    """This process's peak RSS. On Linux VmHWM, not ru_maxrss: that one also counts the
    parent's memory copied by fork before exec, here the whole benchmark's."""
    if (peak := _status_kb(os.getpid(), "VmHWM")) is not None:
        return peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere


def _rss_kb(pid: int) -> int | None:
    return _status_kb(pid, "VmRSS")


def _status_kb(pid: int, name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads)."""
    if pid == os.getpid():
        return time.process_time()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class Meter:
    """The bot's RSS, sampled from start-up on; the CPU of the bot and of this process over
    the measured window (shares of one core)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss_start = _rss_kb(pid)
        self.rss_peak = self.rss_start
        self.bot_cpu: float | None = None
        self.own_cpu: float | None = None
        self._marks: tuple[float, float | None, float] | None = None
        self._sampler = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while (rss := _rss_kb(self.pid)) is not None:
            self.rss_peak = max(self.rss_peak or 0, rss)
            await asyncio.sleep(0.1)

    def window_opens(self) -> None:
        self._marks = (time.perf_counter(), _cpu_seconds(self.pid), time.process_time())

    def window_closes(self) -> None:
        began, bot0, own0 = self._marks
        span, bot1 = time.perf_counter() - began, _cpu_seconds(self.pid)
        self.bot_cpu = (bot1 - bot0) / span if bot0 is not None and bot1 is not None else None
        self.own_cpu = (time.process_time() - own0) / span

    def stop(self) -> None:
        self._sampler.cancel()


# --------------------------------------------------------------------------------------------
# The fake Bot API, and what the residents say
# --------------------------------------------------------------------------------------------


@functools.cache
def _bench_server_class():
    from tests.fake_bot_api import Call, FakeBotApi, SentMessage

    class RefusedCalls(list):
        """server.calls under load: counts every call, keeps only the refused ones."""

        total = 0

        def append(self, call: Call) -> None:
            self.total += 1
            if call.status != 200:
                super().append(call)

    class BenchBotApi(FakeBotApi):
        """The strict fake Bot API; each accepted message goes to its chat's inbox at once,
        stamped with the time, instead of piling up in `sent`."""

        def __init__(self) -> None:
            super().__init__(TOKEN)
            self.calls = RefusedCalls()
            self.inboxes: dict[int | str, asyncio.Queue[tuple[float, SentMessage]]] = {}
            self.polled = asyncio.Event()  # the bot's first getUpdates: it is ready
            self.on_request(self._on_request)

        def inbox(self, chat_id: int | str) -> asyncio.Queue[tuple[float, SentMessage]]:
            return self.inboxes.setdefault(chat_id, asyncio.Queue())

        def _on_request(self, method: str, params: dict[str, Any]) -> None:
            if method.lower() == "getupdates":
                self.polled.set()

        def _record(self, message: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
            result = super()._record(message, *args, **kwargs)
            sent = self.sent.pop()
            self.inbox(sent.chat_id).put_nowait((time.perf_counter(), sent))
            return result

    return BenchBotApi


@dataclass
class Workload:
    questions: list[tuple[str, str]]  # (text, language)
    mix: dict[str, int]  # reply kind -> how many of the questions get it
    complaints: list[str]
    source: str


async def workload() -> Workload:
    """Questions whose reply is one message and changes nothing (answers, clarifications,
    out-of-scope fallbacks, greetings), and texts the model takes for complaints; both
    sorted offline with the same model the bot uses."""
    from bench.match import DEV_SET
    from bot.startup import build_core
    from handlers.router import answer_text

    services = build_core()
    if DEV_SET.exists():
        rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
        candidates = [(r["q"], r.get("lang") or "zh") for r in rows]
        source = f"{DEV_SET.name} ({len(rows)} questions)"
    else:
        entries = services.content.entries.values()
        candidates = [(q, "zh") for e in entries for q in e.questions.zh] + [(q, "en") for e in entries for q in e.questions.en]
        source = "the content base's sample questions"
    candidates += GREETINGS + OUT_OF_SCOPE
    questions, mix = [], {}
    for text, lang in candidates:
        reply = await answer_text(text, lang, None, services)
        if reply.kind in ("answer", "clarify", "fallback", "greeting") and len(reply.messages) == 1:
            questions.append((text, lang))
            mix[reply.kind] = mix.get(reply.kind, 0) + 1
    def complaint(text: str) -> bool:
        return services.model.understand(text).kind == "complaint"

    complaints = [text for text, _ in candidates if complaint(text)]
    complaints += [t for t in COMPLAINTS if complaint(t) and t not in complaints]
    if not questions or not complaints:
        raise BenchError("no usable questions or complaint texts")
    return Workload(questions, mix, complaints, source)


# --------------------------------------------------------------------------------------------
# The residents
# --------------------------------------------------------------------------------------------


@dataclass
class Window:
    """The measured seconds: residents go on until `end` (unknown until warm-up is over)."""

    start: float = float("inf")
    end: float = float("inf")

    def open(self, seconds: float) -> None:
        self.start = time.perf_counter()
        self.end = self.start + seconds

    def __contains__(self, moment: float) -> bool:
        return self.start <= moment <= self.end


@dataclass
class Tally:
    residents: int
    replies: list[tuple[float, float]] = field(default_factory=list)  # (update queued, reply accepted)
    dialogs: list[tuple[float, float]] = field(default_factory=list)  # (first message queued, ticket number accepted)
    tickets: list[str] = field(default_factory=list)  # every ticket number shown to a resident
    duplicates: int = 0  # of them, reports merged with an open ticket
    timeouts: int = 0
    extra: int = 0  # messages nobody waited for
    failed: list[str] = field(default_factory=list)  # unexpected replies in a dialog (the first words)
    last_ticket: float = 0.0
    warm: asyncio.Event = field(default_factory=asyncio.Event)  # every resident has gone through a dialog's worth of steps
    _steps: dict[int, int] = field(default_factory=dict)  # exchanges per resident
    _warmed: set[int] = field(default_factory=set)  # residents with DIALOG_STEPS exchanges (or who stopped)

    def stepped(self, user: int, stopped: bool = False) -> None:
        self._steps[user] = self._steps.get(user, 0) + (not stopped)
        if (stopped or self._steps[user] >= DIALOG_STEPS) and user not in self._warmed:
            self._warmed.add(user)
            if len(self._warmed) >= self.residents:
                self.warm.set()


class _NoReply(Exception):
    """A reply did not arrive within REPLY_TIMEOUT."""


class _Astray(Exception):
    """A dialog step got a reply other than the expected one."""


async def _exchange(inbox: asyncio.Queue, tally: Tally, push, expect: str | None = None, user: int | None = None):
    """Queue one update (`push()`), wait for its reply; (accepted at, message).

    `expect`: a button the reply must carry."""
    sent = time.perf_counter()
    push()
    try:
        stamp, message = await asyncio.wait_for(inbox.get(), REPLY_TIMEOUT)
    except TimeoutError:
        tally.timeouts += 1
        raise _NoReply from None
    tally.replies.append((sent, stamp))
    if user is not None:
        tally.stepped(user)
    if expect is not None and expect not in message.callback_data():
        raise _Astray(message.plain_text[:60])
    return stamp, message


async def ask_questions(server, user: int, questions: list[tuple[str, str]], window: Window, tally: Tally) -> None:
    """Closed loop: a question, its answer, the next question, until the window closes."""
    rng = random.Random(user)
    inbox = server.inbox(user)
    await asyncio.sleep(rng.random() * RAMP)
    while time.perf_counter() < window.end:
        text, lang = rng.choice(questions)
        try:
            await _exchange(inbox, tally, functools.partial(server.push_text, user, text,
                                                            language_code="en" if lang == "en" else "zh-hans"))
        except _NoReply:
            return
        while not inbox.empty():  # a reply of more than one message: none is expected
            inbox.get_nowait()
            tally.extra += 1


async def file_complaints(server, user: int, complaints: list[str], window: Window, tally: Tally) -> None:
    """Whole dialogs, one after the other: complaint -> where -> photos: skip -> phone: skip
    -> submit -> the ticket number, until the window closes (the dialog under way is dropped).

    Residents start out of step: the first says hello 0 to 4 times (by its number), so that once
    each has gone through five exchanges, as many residents are at each step of a dialog and
    the tickets come out evenly, not in waves."""
    rng = random.Random(user)
    inbox = server.inbox(user)
    await asyncio.sleep(rng.random() * RAMP)
    try:
        for _ in range(user % DIALOG_STEPS):
            await _exchange(inbox, tally, functools.partial(server.push_text, user, "你好"), user=user)
        await _dialogs(server, user, complaints, window, tally, rng, inbox)
    except _NoReply:
        pass  # the bot is not answering: stop rather than pile up
    finally:
        tally.stepped(user, stopped=True)  # (if the resident gave up early, warm-up does not wait for it)


async def _dialogs(server, user: int, complaints: list[str], window: Window, tally: Tally, rng: random.Random,
                   inbox: asyncio.Queue) -> None:
    def say(words: str, expect: str | None = None):
        return _exchange(inbox, tally, functools.partial(server.push_text, user, words), expect, user)

    def press(message, data: str, expect: str | None = None):
        return _exchange(inbox, tally, functools.partial(server.push_callback, user, data, message.message_id), expect, user)

    while time.perf_counter() < window.end:
        started = time.perf_counter()
        place = f"{rng.choice(ROADS)}{rng.randint(1, 999)}弄{rng.randint(1, 60)}号"
        try:
            await say(rng.choice(complaints))  # "where is it?"
            _, photos = await say(place, "ik:skip")  # photos: [skip] [cancel]
            _, phone = await press(photos, "ik:skip", "ik:skip")  # phone: [skip] [cancel]
            _, summary = await press(phone, "ik:skip", "ik:submit")  # the summary: [submit] [edit ...] [cancel]
            done_at, done = await press(summary, "ik:submit")  # the ticket number
            if not (numbers := TICKET_NUMBER.findall(done.plain_text)):
                raise _Astray(done.plain_text[:60])
        except _Astray as astray:
            tally.failed.append(str(astray))
            if len(tally.failed) > 50:
                return
            await say("/cancel")
            continue
        tally.dialogs.append((started, done_at))
        tally.tickets.append(numbers[-1])  # a merged report names the open ticket first, its own last
        tally.duplicates += len(set(numbers)) > 1
        tally.last_ticket = max(tally.last_ticket, done_at)


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
    server = _bench_server_class()()
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
        _bench_server_class()
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
