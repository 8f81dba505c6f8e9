"""The one aiohttp server of `python -m bot serve`.

- `POST /telegram`: Telegram's webhook. The `X-Telegram-Bot-Api-Secret-Token` header must be
  WEBHOOK_SECRET (403 otherwise); the update goes on the PTB application's queue and Telegram
  gets its 200 at once.
- `GET /wechat`: the Official Account console's URL check (echoes `echostr` when signed by
  WECHAT_TOKEN); `POST /wechat`: messages and events (bot/channels/wechat.py).
- `GET /healthz`: 200 with {"database": "ok", "entries": N, "outbox_backlog": N, "outbox_stuck": N,
  "outbox_oldest_seconds": N, "version": ...}, or 503 naming what is wrong (the database is read,
  not just pinged; the oldest message still to be delivered is older than OUTBOX_STUCK_AFTER; a
  channel receives but cannot send, listed under "cannot_send").

A malformed body (deeply nested JSON included) gets 400 and a log line, an oversized one 413,
anything unexpected 500 and a log line with the traceback: never a traceback page. A request
whose headers or body have not arrived within READ_TIMEOUT is closed (408 once its headers are
in); the `Server` header names no versions.

bot/lifecycle.py's `serve(settings)` runs it, with the rest of the server.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError
from aiohttp.web_protocol import RequestPayloadError

from bot import __version__, metrics, staff_admin, staff_alerts, staff_console, staff_events, staff_live, staff_review, staff_web
from bot.channels.wechat import BadMessage, WeChatChannel, cannot_send
from bot.settings import Settings
from bot.web_keys import SERVICES, SETTINGS, TELEGRAM, WECHAT
from handlers.services import Services

if TYPE_CHECKING:
    from telegram.ext import Application

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # a Telegram update; WeChat has its own, smaller cap
HEALTH_TIMEOUT = 3.0  # seconds the database may take to answer /healthz
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
READ_TIMEOUT = 10.0  # seconds a client has to send a request's headers, and then its body
SERVER_NAME = "tangqiao-bot"  # the Server header: aiohttp's default names Python's and its own version



class BadRequestBody(ValueError):
    """A body that is not what the endpoint takes (not JSON, not an update, ...)."""


@web.middleware
async def read_deadline(request: web.Request, handler: Any) -> web.StreamResponse:
    """A body not whole within READ_TIMEOUT: the handler (still reading it) is stopped and the
    connection closed with 408. (Headers that never finish are closed by the runner's
    keepalive_timeout, which aiohttp also applies to a connection's first request.)"""
    if not request.body_exists or request.content.is_eof():
        return await handler(request)
    task = asyncio.current_task()
    expired = False

    def expire() -> None:
        nonlocal expired
        if not request.content.is_eof():
            expired = True
            task.cancel()

    timer = asyncio.get_running_loop().call_later(READ_TIMEOUT, expire)
    try:
        return await handler(request)
    except asyncio.CancelledError:
        if not expired:
            raise
        task.uncancel()
        log.warning("%s %s: body not received within %s s, from %s", request.method, request.path, READ_TIMEOUT,
                    request.remote)
        response = web.Response(status=408, text="request timeout")
        response.force_close()
        return response
    finally:
        timer.cancel()


async def _server_header(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_NAME


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """400 for a malformed body, 500 for a bug, each with a log line; HTTP errors pass."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        log.warning("%s %s: body too large, from %s", request.method, request.path, request.remote)
        raise
    except web.HTTPException:
        raise
    except (BadMessage, BadRequestBody) as exc:
        log.warning("%s %s: malformed body from %s: %s", request.method, request.path, request.remote, exc)
        return web.Response(status=400, text="bad request")
    except (RequestPayloadError, ContentEncodingError, UnicodeDecodeError) as exc:  # a body its encoding cannot undo
        log.warning("%s %s: body not readable from %s: %s", request.method, request.path, request.remote,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        response = web.Response(status=400, text="bad request: the body cannot be read 请求内容无法读取")
        response.force_close()  # the rest of the body is not read: the connection cannot carry another request
        return response
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.Response(status=500, text="internal error")


# --------------------------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------------------------


async def telegram_webhook(request: web.Request) -> web.Response:
    """An update from Telegram: checked, queued for the application, answered at once."""
    from telegram import Update

    from bot.channels.telegram_inbox import malformed

    application = request.app[TELEGRAM]
    if application is None:
        raise web.HTTPNotFound(text="no Telegram bot here")
    secret = request.app[SETTINGS].webhook_secret or ""
    given = request.headers.get(SECRET_HEADER, "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        log.warning("Telegram webhook call with a wrong secret from %s", request.remote)
        raise web.HTTPForbidden(text="wrong secret token")
    try:
        data = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise BadRequestBody("not JSON") from None
    except RecursionError:  # nested deeper than Python's recursion limit: no update looks like that
        raise BadRequestBody("JSON nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise BadRequestBody("not a Telegram update")
    try:
        update = Update.de_json(data, application.bot)
    except Exception as exc:  # PTB's parsing of a malformed update: KeyError, TypeError, ...
        raise BadRequestBody(f"not a Telegram update: {type(exc).__name__}") from None
    if problem := malformed(update):
        raise BadRequestBody(f"not a Telegram update: {problem}")
    await application.update_queue.put(update)
    return web.Response(text="ok")


async def wechat_verify(request: web.Request) -> web.Response:
    return await _wechat(request).verify(request)


async def wechat_receive(request: web.Request) -> web.Response:
    return await _wechat(request).receive(request)


def _wechat(request: web.Request) -> WeChatChannel:
    channel = request.app[WECHAT]
    if channel is None:
        raise web.HTTPNotFound(text="no WeChat Official Account here (WECHAT_TOKEN is not set)")
    return channel


async def healthz(request: web.Request) -> web.Response:
    """Is the database readable, is the content loaded, how many messages wait to be sent."""
    services = request.app[SERVICES]
    body: dict[str, Any] = {"version": __version__}
    problems = []
    try:
        figures = await asyncio.wait_for(_outbox_figures(services), HEALTH_TIMEOUT)
        body["outbox_backlog"], body["outbox_stuck"], body["outbox_oldest_seconds"] = figures
        body["database"] = "ok"
        if figures[2] > request.app[SETTINGS].outbox_stuck_after:
            problems.append("outbox")
    except Exception as exc:  # whatever the driver raises: the answer is "not healthy"
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        body["database"] = f"error: {reason}"
        problems.append("database")
        log.warning("health check: the database cannot be read: %s", reason)
    body["entries"] = len(services.content.entries)
    if not body["entries"]:
        problems.append("content")
    if cannot_send_ := cannot_send(request.app[SETTINGS]):
        body["cannot_send"] = cannot_send_
        problems.append("wechat cannot send")
    body["status"] = "ok" if not problems else "unhealthy: " + ", ".join(problems)
    return web.json_response(body, status=503 if problems else 200)


async def _outbox_figures(services: Services) -> tuple[int, int, int]:
    """Messages waiting to be sent, those left "sending" by a worker that is gone, and the age
    in seconds of the oldest still to be delivered."""
    from db import outbox

    if services.store is None:
        raise RuntimeError("no database configured")
    async with services.store.transaction() as session:
        now = services.clock()
        return (await outbox.backlog(session), await outbox.stuck(session, now),
                round(await outbox.oldest_waiting(session, now)))


async def metrics_endpoint(request: web.Request) -> web.Response:
    """Prometheus' scrape: the counters of this process, the database's figures read now (if the
    database cannot be read, the counters still come, with tangqiao_metrics_database_errors up)."""
    try:
        await asyncio.wait_for(metrics.refresh(request.app[SERVICES]), HEALTH_TIMEOUT)
    except Exception as exc:  # whatever the driver raises: the scrape still answers
        log.warning("metrics: the database's figures cannot be read: %s", str(exc).splitlines()[0][:200] if str(exc)
                    else type(exc).__name__)
    return web.Response(body=metrics.exposition(), headers={"Content-Type": metrics.CONTENT_TYPE})


# --------------------------------------------------------------------------------------------
# The application and the server
# --------------------------------------------------------------------------------------------


def build_web_app(settings: Settings, services: Services, telegram_application: Application | None = None,
                  *, wechat: WeChatChannel | None = None, closes_wechat: bool = True) -> web.Application:
    """The aiohttp application. The WeChat callback answers when WECHAT_TOKEN is set (pass
    `wechat` to share a channel you built); /telegram when a PTB application is given. At its
    cleanup the WeChat replies under way are finished, and (`closes_wechat`) the channel's API
    session closed: bot/lifecycle.py closes it itself, after the outbox worker that uses it."""
    if wechat is None and settings.wechat_token:
        wechat = WeChatChannel(settings, services)
    app = web.Application(client_max_size=MAX_BODY, middlewares=[read_deadline, errors, staff_web.error_pages])
    app.on_response_prepare.append(_server_header)
    app[SETTINGS] = settings
    app[SERVICES] = services
    app[TELEGRAM] = telegram_application
    app[WECHAT] = wechat
    app.router.add_post("/telegram", telegram_webhook)
    app.router.add_get("/wechat", wechat_verify)
    app.router.add_post("/wechat", wechat_receive)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_endpoint)
    staff_console.setup(app)  # the staff web console, /staff/ (bot/staff_console.py)
    staff_events.setup(app)  # its events page, /staff/events (bot/staff_events.py)
    staff_admin.setup(app)  # the administrators' pages: accounts, committees, canned replies (bot/staff_admin.py)
    staff_review.setup(app)  # its review page, /staff/review (bot/staff_review.py)
    staff_alerts.setup(app)  # the emergency alerts on top of its pages (bot/staff_alerts.py)
    staff_live.setup(app)  # its pages updated without a reload, /staff/live (bot/staff_live.py)
    app.on_cleanup.append(_close_wechat if closes_wechat else _finish_wechat)
    return app


async def _close_wechat(app: web.Application) -> None:
    if app[WECHAT] is not None:
        await app[WECHAT].close()  # late replies under way are sent first


async def _finish_wechat(app: web.Application) -> None:
    if app[WECHAT] is not None:
        await app[WECHAT].finish()
