"""Start-up and shutdown of `python -m bot serve`, in one place.

Each part is an async generator (aiohttp's cleanup_ctx style): what comes before its `yield`
starts it, what comes after stops it. `running()` starts the PARTS in order and, whatever
happens (a part that fails to start included), stops those started in the reverse order, so
nothing is closed while a part started after it still uses it:

  start: Telegram application (its HTTP session) -> database and model -> WeChat channel (its
         API session) -> outbox worker and jobs -> Telegram updates (inbox replay, webhook)
         -> web server
  stop:  web server (no new requests; those under way and WeChat's late replies finished)
         -> Telegram updates (the queued ones handled) -> outbox worker and jobs (the messages
         being sent finished, with the WeChat and Telegram sessions still open) -> WeChat API
         session -> database -> Telegram application.

Every step is logged, and written in `Running.steps` (a test reads the order there). Long
polling (`make run` with a token) is PTB's own runner: bot/channels/telegram.py's post_init.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.settings import Settings
from handlers.services import Services

if TYPE_CHECKING:
    from aiohttp import web
    from telegram.ext import Application

    from bot.channels.wechat import WeChatChannel
    from bot.jobs import Background

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 10.0  # seconds requests under way get to finish when the server stops


@dataclass
class Running:
    """The parts of a running server, filled in as they start."""

    settings: Settings
    telegram: Application | None = None
    services: Services | None = None
    wechat: WeChatChannel | None = None
    background: Background | None = None
    runner: web.AppRunner | None = None
    steps: list[str] = field(default_factory=list)  # "start database", ..., "stop database"

    def step(self, what: str) -> None:
        self.steps.append(what)
        log.info("%s", what)


Part = Callable[[Running], AsyncIterator[None]]


async def telegram_application(bot: Running) -> AsyncIterator[None]:
    """The PTB application (its bot's HTTP session), first: the services ask it who the staff are."""
    if not bot.settings.telegram_bot_token:
        yield
        return
    from bot.channels import telegram

    bot.telegram = telegram.build_application(bot.settings)
    await bot.telegram.initialize()
    try:
        yield
    finally:
        await bot.telegram.shutdown()
        if bot.telegram.post_shutdown is not None:
            await bot.telegram.post_shutdown(bot.telegram)


async def database(bot: Running) -> AsyncIterator[None]:
    """The services: the database, the content and its model (the moderation chat's members as staff)."""
    from bot.channels.wechat import cannot_send
    from bot.jobs import export_in_child
    from bot.startup import build_services, close_services

    staff = None
    if bot.telegram is not None:
        from bot.channels import telegram

        staff = telegram.telegram_staff(bot.telegram, bot.settings)
    bot.services = await build_services(bot.settings, exporter=export_in_child(bot.settings), staff=staff)
    try:
        if bot.telegram is not None:
            telegram.use_services(bot.telegram, bot.services)
        for problem in cannot_send(bot.settings):
            log.warning("%s", problem)
        yield
    finally:
        await close_services(bot.services)


async def wechat(bot: Running) -> AsyncIterator[None]:
    """The WeChat channel and its API session (closed after the worker that sends with it stops)."""
    if not bot.settings.wechat_token:
        yield
        return
    from bot.channels.wechat import WeChatChannel

    bot.wechat = WeChatChannel(bot.settings, bot.services)
    yield
    await bot.wechat.close()


async def background(bot: Running) -> AsyncIterator[None]:
    """The outbox worker (a sender for every channel) and the periodic jobs (bot/jobs.py)."""
    from bot import metrics
    from bot.jobs import Background

    senders: dict[str, Any] = {}
    replay = None
    if bot.wechat is not None:
        from bot.channels.wechat_sender import WeChatSender
        from bot.channels.wechat_template import Template

        sender = WeChatSender(bot.wechat.api, bot.wechat.store, Template.of(bot.settings, bot.services.texts),
                             clock=bot.services.clock)
        senders["wechat"] = metrics.CountingSender("wechat", sender)
    if bot.telegram is not None:
        from bot.channels import telegram

        senders["telegram"] = telegram.sender(bot.telegram)
        replay = telegram.replay_inbox(bot.telegram)
    bot.background = Background(bot.services, bot.settings, senders, replay=replay)
    bot.background.start()
    yield
    await bot.background.stop()


async def telegram_updates(bot: Running) -> AsyncIterator[None]:
    """Telegram's updates: those a dead process left in the inbox, then the webhook's (set when
    WEBHOOK_URL is). Not PTB's post_init: the runner is this module."""
    if bot.telegram is None:
        yield
        return
    from bot.channels import telegram

    await telegram.start_channel(bot.telegram)  # the inbox left by a dead process, the command menu
    await bot.telegram.start()
    try:
        if bot.settings.webhook_url:
            await bot.telegram.bot.set_webhook(bot.settings.webhook_url, secret_token=bot.settings.webhook_secret,
                                               allowed_updates=telegram.ALLOWED_UPDATES)
            log.info("Telegram webhook set to %s", bot.settings.webhook_url)
        else:
            log.warning("WEBHOOK_URL is not set: Telegram sends no updates to /telegram unless its webhook points here")
        yield
    finally:
        if bot.telegram.running:
            await bot.telegram.stop()  # handles the updates already queued
        if bot.telegram.post_stop is not None:
            await bot.telegram.post_stop(bot.telegram)


async def web_server(bot: Running) -> AsyncIterator[None]:
    """The site on HOST:PORT (bot/web.py): it stops taking requests first, and finishes those under way."""
    from aiohttp import web

    from bot.startup import settle_heap
    from bot.web import READ_TIMEOUT, build_web_app

    bot.runner = web.AppRunner(build_web_app(bot.settings, bot.services, bot.telegram, wechat=bot.wechat,
                                             closes_wechat=False),
                               shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=None,
                               # headers not whole, an idle connection, a body left unread after the answer
                               keepalive_timeout=READ_TIMEOUT, lingering_time=READ_TIMEOUT)
    await bot.runner.setup()
    try:
        await web.TCPSite(bot.runner, bot.settings.host, bot.settings.port).start()
        settle_heap()
        where = ", ".join(f"{a[0]}:{a[1]}" for a in bot.runner.addresses if isinstance(a, tuple))
        log.info("serving on %s: /telegram %s, /wechat %s, /healthz", where,
                 "on" if bot.telegram else "off", "on" if bot.wechat else "off")
        yield
    finally:
        await bot.runner.cleanup()  # stop listening, finish requests, then the WeChat late replies


PARTS: tuple[tuple[str, Part], ...] = (
    ("telegram application", telegram_application),
    ("database", database),
    ("wechat", wechat),
    ("outbox worker and jobs", background),
    ("telegram updates", telegram_updates),
    ("web server", web_server),
)


@contextlib.asynccontextmanager
async def running(settings: Settings, parts: tuple[tuple[str, Part], ...] = PARTS) -> AsyncIterator[Running]:
    """The server's parts started in order; on leaving, those started stopped in the reverse order."""
    bot = Running(settings)
    async with contextlib.AsyncExitStack() as stack:
        for name, part in parts:
            bot.step(f"start {name}")
            await stack.enter_async_context(_part(bot, name, part))
        yield bot
        log.info("stopping: no new requests; finishing those under way")
    log.info("stopped")


@contextlib.asynccontextmanager
async def _part(bot: Running, name: str, part: Part) -> AsyncIterator[None]:
    steps = part(bot)
    await anext(steps)
    try:
        yield
    finally:
        bot.step(f"stop {name}")
        await anext(steps, None)  # the part's tear-down: after its yield, to its end


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the server until SIGTERM / SIGINT (or `stop` is set), then shut down cleanly: its
    parts are started, and stopped in the reverse order, by running()."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or not Unix
            pass
    try:
        async with running(settings):
            await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
