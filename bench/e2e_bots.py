"""The bots of `python -m bench e2e` (bench/e2e.py): ours or a bare PTB echo bot, run in a process
of its own (child_main) or in this one, and their processes' figures (RSS, CPU)."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import telegram
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:TEST-token_for-the-fake-api"
MODERATION = -1001234567890  # an ordinary supergroup: cards as messages, alerts as replies to them
POLL_INTERVAL = 0.0
POLL_TIMEOUT = 1  # seconds a getUpdates waits when nothing is pending
STOP_TIMEOUT = 30.0  # for a bot to stop once told to
TICKETS_PER_DAY = 1_000_000
UNTHROTTLED = 1_000_000_000  # Throttle limit for the benchmark: the check runs, never trips


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
        from bot.channels.telegram import build_application, telegram_staff, use_services
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
        application = build_application(settings, rate_limiter=ChatPacer(bench_rate_limiter(), interval=0))
        services = replace(await build_services(settings, staff=telegram_staff(application, settings)),
                           throttle=Throttle(limit=UNTHROTTLED))
        use_services(application, services)
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


_CHILD = "import sys; from bench.e2e_bots import child_main; sys.exit(child_main(sys.argv[1]))"


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
