"""The WeChat Official Account (公众号) channel: the message callback, and how each reply goes out.

What a resident sees, chatting with the Official Account:

- following the account: the welcome and the menu, as for /start on Telegram; a tap on the
  account's menu (wechat_menu.py): the command it names; unfollowing: their tickets and
  subscriptions are marked unreachable until they write again;
- text, a photo or a location pin: the router's reply, as plain text; buttons become numbered
  choices ("[1] 养老服务") and the resident answers with the digit (or the label); a photo is
  fetched once, now, into PHOTO_DIR (bot/photo_files.py); a voice message is its recognised
  text, marked as speech;
- a reply that takes longer than about 4 seconds arrives a moment later as a customer-service
  message instead of the passive reply (WeChat waits 5 seconds, then retries twice more);
- a reply longer than WeChat's 2048 bytes arrives as several messages;
- staff replies to their tickets arrive through the same customer-service API (`WeChatSender`,
  used by the outbox worker: wechat_sender.py); past WeChat's 48 hours they are held, and handed
  over when the resident next writes (a template message tells them meanwhile, when configured).

Who may write as a resident: WeChat signs every callback (`signature`), but over the token,
timestamp and nonce only, never the body, and signed query strings end up in logs. So the
timestamp must be within FRESH_FOR seconds of our clock, and a (timestamp, nonce) seen before is
accepted only with the same body (WeChat retrying; answered from the reply cache). With
WECHAT_AES_KEY set only safe mode is accepted: an <Encrypt> whose `msg_signature` covers it (AES,
see wechat_crypto.py); the reply is encrypted too.

A resident's message is known by (openid, MsgId): delivered again while it is still being
handled, or within KEEP_FINISHED seconds, it gets the same reply; the router skips an update it
has seen before by `Inbound.update_key`. The reply and how it went out (passive, by the API) are
kept in the database too (db/wechat_memory.py), so a retry reaching another server gets the same.

The numbered choices and their digits: wechat_choices.py. The XML and the reply's text:
wechat_xml.py. The API and its token: wechat_api.py. All the decisions are in `handlers/`; this
module only receives callbacks and decides how each reply goes out.
"""
from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web

from bot.channels.common import numbered
from bot.channels.wechat_api import UNREACHABLE, WeChatApi, WeChatApiError, WeChatUnavailable
from bot.channels.wechat_choices import pick, remember
from bot.channels.wechat_crypto import MessageCrypto, WeChatCryptoError, check_signature, fresh
from bot.channels.wechat_xml import CHANNEL, BadMessage, parse_xml, read_body, split_bytes, text_reply_xml, to_inbound
from bot.metrics import handle  # the router's handle, counted and timed
from bot.photo_files import MAX_BYTES as MAX_PHOTO_BYTES
from bot.photo_files import PhotoFiles, PhotoUnavailable, fetch_wechat_picture, wechat_picture_url
from bot.settings import Settings
from db import outbox
from db import wechat_memory as memory
from handlers.services import Services
from handlers.types import Inbound, Outbound

log = logging.getLogger(__name__)

REPLY_WITHIN = 4.0  # seconds: WeChat gives up on a passive reply after 5
KEEP_FINISHED = 60.0  # seconds a handled MsgId's reply is kept for WeChat's retries
FRESH_FOR = 300.0  # seconds a callback's timestamp may differ from our clock: WeChat's 3 tries take 15
SWEEP_EVERY = 60.0  # seconds between deletions of nonces too old to be accepted anyway
NONCE_MAX = 64  # characters: WeChat's nonces are about 10 digits
ELSEWHERE_POLL = 0.1  # seconds between looks for a reply another server is giving
SUCCESS = "success"  # the answer that tells WeChat "received, nothing to say now"

__all__ = ["BadMessage", "WeChatChannel", "cannot_send"]


def cannot_send(settings: Settings) -> list[str]:
    """What a channel can receive but not send, in one line each (start-up warns, /healthz reports)."""
    if settings.wechat_token and not (settings.wechat_app_id and settings.wechat_app_secret):
        return ["wechat: receives messages (WECHAT_TOKEN) but cannot send staff replies, notices or late replies: "
                "set WECHAT_APP_ID and WECHAT_APP_SECRET"]
    return []


@dataclass
class _Job:
    """One MsgId being handled (or handled a moment ago): its reply and who delivers it."""

    openid: str
    key: str  # the message's (openid:MsgId), as the database keeps its reply
    chunks: list[str] | None = None  # the reply's text in WeChat-sized pieces, once ready
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    waiters: int = 0  # callback requests waiting for the reply right now
    delivery: str | None = None  # "passive" | "api" | "none": decided once


class WeChatChannel:
    """The Official Account's callback: verify, decrypt, answer passively or through the API."""

    def __init__(self, settings: Settings, services: Services, api: WeChatApi | None = None,
                 reply_within: float = REPLY_WITHIN) -> None:
        if not settings.wechat_token:
            raise ValueError("WECHAT_TOKEN is not set")
        if services.store is None:
            raise ValueError("the WeChat channel needs the database (its nonces and numbered choices are kept there)")
        self.token = settings.wechat_token
        self.services = services
        self.store = services.store
        self.crypto = (MessageCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_app_id)
                       if settings.wechat_aes_key and settings.wechat_app_id else None)
        if api is None and settings.wechat_app_id and settings.wechat_app_secret:
            api = WeChatApi(settings.wechat_app_id, settings.wechat_app_secret, settings.wechat_api_base)
        self.api = api
        self.photos = PhotoFiles(Path(settings.photo_dir), None, None)
        self.fetch_picture = fetch_wechat_picture  # tests serve WeChat's image hosts on loopback
        self.reply_within = reply_within
        self._next_sweep = 0.0  # time.monotonic() of the next deletion of old nonces
        self._jobs: dict[str, _Job] = {}
        self._users: dict[str, list[Any]] = {}  # openid -> [lock, users of it]: one message at a time
        self._tasks: set[asyncio.Task[None]] = set()

    # -- HTTP ---------------------------------------------------------------------------

    async def verify(self, request: web.Request) -> web.Response:
        """GET: the console's URL check; echo `echostr` when the signature is ours."""
        self._signed(request)
        return web.Response(text=request.query.get("echostr", ""))

    async def receive(self, request: web.Request) -> web.Response:
        """POST: a message or event; the reply XML, or "success" when there is none (yet)."""
        timestamp, nonce = self._signed(request)
        body = await read_body(request)
        message = self._open(parse_xml(body), request)
        if not await self._first_use(timestamp, nonce, body):
            self._refuse(request, "a timestamp and nonce already used with another body")
        inbound = to_inbound(message)
        if inbound is None:
            if message.get("MsgType", "").lower() == "event" and message.get("Event", "").lower() == "unsubscribe":
                await memory.unfollowed(self.store, message["FromUserName"], self.services.clock())
            return web.Response(text=SUCCESS)
        text = await self.answer(inbound, message.get("PicUrl"))
        if text is None:
            return web.Response(text=SUCCESS)
        xml = text_reply_xml(inbound.user_id, message.get("ToUserName", ""), text)
        if self.crypto is not None:
            xml = self.crypto.encrypt_reply(xml, nonce, str(int(time.time())))
        return web.Response(text=xml, content_type="application/xml")

    def _signed(self, request: web.Request) -> tuple[str, str]:
        """The timestamp and nonce of a request signed with our token a moment ago; 403 otherwise."""
        query = request.query
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not check_signature(self.token, query.get("signature"), timestamp, nonce):
            self._refuse(request, "a bad signature")
        if not fresh(timestamp, time.time(), FRESH_FOR):
            self._refuse(request, f"a timestamp more than {FRESH_FOR:.0f} s from our clock")
        if len(nonce) > NONCE_MAX:  # longer than the column that remembers it
            self._refuse(request, f"a nonce over {NONCE_MAX} characters")
        return timestamp, nonce

    @staticmethod
    def _refuse(request: web.Request, reason: str) -> NoReturn:
        log.warning("WeChat %s refused (%s) from %s", request.method, reason, request.remote)
        raise web.HTTPForbidden(text=f"refused: {reason}")

    def _open(self, envelope: dict[str, str], request: web.Request) -> dict[str, str]:
        """The message of a callback body: decrypted when WECHAT_AES_KEY is set (and only then
        accepted with a valid msg_signature), as it is otherwise."""
        query = request.query
        if self.crypto is None:
            if query.get("encrypt_type", "").lower() == "aes" or "Encrypt" in envelope:
                raise BadMessage("an encrypted (safe mode) message, but WECHAT_AES_KEY is not set")
            return envelope
        encrypted = envelope.get("Encrypt", "")
        if not encrypted or not self.crypto.check_msg_signature(query.get("msg_signature"), query.get("timestamp"),
                                                                query.get("nonce"), encrypted):
            self._refuse(request, "no <Encrypt> signed by msg_signature, and WECHAT_AES_KEY is set")
        try:
            return parse_xml(self.crypto.decrypt(encrypted))
        except WeChatCryptoError as exc:
            raise BadMessage(f"cannot decrypt: {exc}") from None

    async def _first_use(self, timestamp: str, nonce: str, body: bytes) -> bool:
        """False when this timestamp and nonce came before with another body (a replay)."""
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_EVERY
            await memory.forget_old(self.store, int(time.time() - FRESH_FOR), self.services.clock())
        return await memory.first_use(self.store, int(timestamp), nonce, hashlib.sha256(body).hexdigest())

    # -- the 5-second rule ----------------------------------------------------------------

    async def answer(self, inbound: Inbound, picture_url: str | None = None) -> str | None:
        """The text of the passive reply, or None: answer "success" (the reply, if any, goes
        through the customer-service API when it is ready)."""
        key = inbound.update_key or ""
        job = self._jobs.get(key)
        if job is None:
            job = self._jobs[key] = _Job(inbound.user_id, key)
            self._spawn(self._run(key, job, inbound, picture_url))
        if job.chunks is None:
            job.waiters += 1
            try:
                await asyncio.wait_for(job.ready.wait(), self.reply_within)
            except TimeoutError:
                pass
            except asyncio.CancelledError:  # the request went away: the reply must not
                job.waiters -= 1
                self._spawn(self._deliver_late(job))
                raise
            job.waiters -= 1
        if job.chunks is None:
            log.info("WeChat reply to %s not ready in %.1f s: it follows by the customer-service API",
                     key, self.reply_within)
            return None
        return await self._claim_passive(job)

    async def _claim_passive(self, job: _Job) -> str | None:
        if job.delivery is None:
            if not job.chunks:
                wanted = "none"
            elif len(job.chunks) == 1 or self.api is None:
                wanted = "passive"
                if len(job.chunks) > 1:
                    log.warning("a %d-part WeChat reply without WECHAT_APP_SECRET: only the first part is sent",
                                len(job.chunks))
            else:  # several messages: all through the API, in order
                wanted = "api"
            await self._decide(job, wanted)
        return job.chunks[0] if job.delivery == "passive" else None  # a retry gets the same reply

    async def _deliver_late(self, job: _Job) -> None:
        """The reply is ready and no request is waiting for it: the API sends it."""
        if job.chunks is not None and job.waiters == 0 and job.delivery is None:
            await self._decide(job, "api" if job.chunks else "none")

    async def _decide(self, job: _Job, wanted: str) -> None:
        """How the reply goes out, once for every server (the database decides); the API sends
        it from the server whose decision it was."""
        try:
            decided, ours = await memory.decide_delivery(self.store, job.key, wanted)
        except Exception:  # this server's decision then; a retry elsewhere may answer it again
            log.exception("how a WeChat reply goes out could not be stored")
            decided, ours = wanted, True
        if job.delivery is not None:  # decided meanwhile, in this process
            return
        job.delivery = decided
        if ours and decided == "api":
            self._spawn(self._send_late(job))

    async def _run(self, key: str, job: _Job, inbound: Inbound, picture_url: str | None = None) -> None:
        try:
            async with self._user_lock(inbound.user_id):
                if inbound.photos:
                    inbound = await self._with_photo(inbound, picture_url)
                messages = await self._handle(inbound)
                await self._hand_over(inbound.user_id)
                text, choices = numbered(messages)
                if messages:  # nothing shown (a repeated delivery): the choices shown before still hold
                    await remember(self.store, inbound.user_id, choices, self.services.clock(), notice=False)
            chunks = split_bytes(text) if text else []
            if messages:
                await self._keep(key, chunks)
            elif (elsewhere := await self._answered_elsewhere(key)) is not None:
                chunks, job.delivery = elsewhere  # WeChat's retry of a message another server handled
            job.chunks = chunks
            job.ready.set()
            await self._deliver_late(job)
        finally:
            if job.chunks is None:  # failed or cancelled: let a retry try again
                self._jobs.pop(key, None)
            else:
                asyncio.get_running_loop().call_later(KEEP_FINISHED, self._jobs.pop, key, None)

    async def _with_photo(self, inbound: Inbound, picture_url: str | None) -> Inbound:
        """The photo fetched into the console's photos, once (by its MediaId through media/get,
        else from its PicUrl on WeChat's image hosts); a photo that cannot be fetched is a
        message the bot cannot use."""
        media_id = inbound.photos[0]
        if self.photos.has(CHANNEL, media_id):
            return inbound
        try:
            if self.api is not None:
                try:
                    self.photos.keep(CHANNEL, media_id, await self.api.get_media(media_id, MAX_PHOTO_BYTES))
                    return inbound
                except (WeChatApiError, WeChatUnavailable, PhotoUnavailable) as exc:
                    log.warning("WeChat photo %s: media/get failed (%s); trying its PicUrl", media_id, exc)
            if wechat_picture_url(picture_url) is None:
                raise PhotoUnavailable("no PicUrl on WeChat's image hosts")
            self.photos.keep(CHANNEL, media_id, await self.fetch_picture(picture_url))
            return inbound
        except (PhotoUnavailable, OSError) as exc:
            log.warning("a WeChat photo could not be fetched (%s): taken as a message without one", exc)
            return replace(inbound, photos=(), unsupported="photo")

    async def _keep(self, key: str, chunks: list[str]) -> None:
        try:
            await memory.keep_reply(self.store, key, chunks, self.services.clock())
        except Exception:  # this server still answers; a retry reaching another may not get it
            log.exception("a WeChat reply could not be kept for WeChat's retries")

    async def _answered_elsewhere(self, key: str) -> tuple[list[str], str | None] | None:
        """The reply another server gave (or is about to give) to this message, which the
        router had seen: waited for while WeChat waits for an answer."""
        deadline = time.monotonic() + self.reply_within * 0.8
        while True:
            try:
                if (stored := await memory.reply_of(self.store, key)) is not None:
                    return stored
            except Exception:
                log.exception("the WeChat reply kept by another server could not be read")
                return None
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(ELSEWHERE_POLL)

    async def _handle(self, inbound: Inbound) -> list[Outbound]:
        """The router's reply; a digit answering numbered choices is the button it stands for."""
        try:
            if inbound.text and (button := await pick(self.store, inbound.user_id, inbound.text)) is not None:
                inbound = replace(inbound, text="", callback=button.data)
            return (await handle(inbound, self.services)).messages
        except Exception:
            log.exception("error while handling WeChat message %s", inbound.update_key)
            return [Outbound(self.services.texts.render("error", self.services.default_language))]

    async def _hand_over(self, openid: str) -> None:
        """The resident wrote: their 48 hours begin again, and what was held for them goes out
        (the outbox worker sends it after this reply)."""
        try:
            async with self.store.transaction() as session:
                if count := await outbox.hand_over(session, CHANNEL, openid, self.services.clock()):
                    log.info("WeChat resident %s wrote: %d held messages handed over", openid, count)
        except Exception:  # the next message tries again
            log.exception("the messages held for a WeChat resident could not be handed over")

    async def _send_late(self, job: _Job) -> None:
        """Send a reply through the customer-service API; what fails goes to the outbox."""
        if self.api is None:
            log.warning("a late WeChat reply is dropped: WECHAT_APP_SECRET is not set")
            return
        for number, chunk in enumerate(job.chunks or []):
            try:
                await self.api.send_text(job.openid, chunk)
            except (WeChatApiError, WeChatUnavailable) as exc:
                if isinstance(exc, WeChatApiError) and exc.errcode in UNREACHABLE:
                    log.info("WeChat resident %s cannot be reached (%s): reply dropped", job.openid, exc.errcode)
                    return
                log.warning("late WeChat reply failed (%s): the outbox retries it", exc)
                await self._to_outbox(job.openid, job.chunks[number:])
                return

    async def _to_outbox(self, openid: str, chunks: list[str]) -> None:
        async with self.store.transaction() as session:
            for chunk in chunks:  # escaped: the sender reads outbox text as HTML
                outbox.enqueue(session, CHANNEL, openid, "reply", html.escape(chunk, quote=False))

    # -- housekeeping ---------------------------------------------------------------------

    def _user_lock(self, openid: str) -> _UserLock:
        return _UserLock(self._users, openid)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, timeout: float = 10.0) -> None:
        """Finish the messages being handled and the late replies, then close the API session."""
        await self.finish(timeout)
        if self.api is not None:
            await self.api.close()

    async def finish(self, timeout: float = 10.0) -> None:
        """Finish the messages being handled and the late replies (the web server stops)."""
        if self._tasks:
            done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("%d WeChat replies cancelled at shutdown", len(pending))


class _UserLock:
    """One message of a resident at a time (an intake step must see the previous one's result)."""

    def __init__(self, users: dict[str, list[Any]], openid: str) -> None:
        self.users, self.openid = users, openid

    async def __aenter__(self) -> None:
        entry = self.users.setdefault(self.openid, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            await entry[0].acquire()
        except BaseException:
            self._leave(entry)
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        entry = self.users[self.openid]
        entry[0].release()
        self._leave(entry)

    def _leave(self, entry: list[Any]) -> None:
        entry[1] -= 1
        if entry[1] == 0:
            self.users.pop(self.openid, None)

