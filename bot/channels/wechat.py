"""The WeChat Official Account (公众号) channel: the message callback and the customer-service API.

What a resident sees, chatting with the Official Account:

- following the account: the welcome and the menu, as for /start on Telegram;
- text, a photo or a location pin: the router's reply, as plain text; buttons become numbered
  choices ("[1] 养老服务") and the resident answers with the digit (or the label);
- a reply that takes longer than about 4 seconds arrives a moment later as a customer-service
  message instead of the passive reply (WeChat waits 5 seconds, then retries twice more);
- a reply longer than WeChat's 2048 bytes arrives as several messages;
- staff replies to their tickets arrive through the same customer-service API (`WeChatSender`,
  used by the outbox worker).

Who may write as a resident: WeChat signs every callback (`signature`), but over the token,
timestamp and nonce only, never the body, and signed query strings end up in logs. So the
timestamp must be within FRESH_FOR seconds of our clock, and a (timestamp, nonce) seen before is
accepted only with the same body (WeChat retrying; answered from the reply cache). With
WECHAT_AES_KEY set only safe mode is accepted: an <Encrypt> whose `msg_signature` covers it (AES,
see wechat_crypto.py); the reply is encrypted too.

A resident's message is known by (openid, MsgId): delivered again while it is still being
handled, or within KEEP_FINISHED seconds, it gets the same reply; the router skips an update it
has seen before by `Inbound.update_key`.

Numbered choices are kept per context in the database (db/wechat_memory.py), so any process
reads the digit: the last reply's, and the last notice's (a staff message, the rating question)
sent after it. A digit answers the notice only when a notice is the last thing the resident was
shown and no report of theirs is under way: a digit typed for a report step, or after a staff
message without choices, is never a rating.

All the decisions are in `handlers/`; this module only translates between WeChat and the router.
"""
from __future__ import annotations

import asyncio
import hashlib
import html
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NoReturn
from xml.etree.ElementTree import ParseError

import aiohttp
import defusedxml.ElementTree as SafeET
from aiohttp import web
from defusedxml import DefusedXmlException

from bot.channels.common import as_buttons, picked, split_text
from bot.channels.wechat_crypto import MessageCrypto, WeChatCryptoError, cdata, check_signature, fresh
from bot.settings import DEFAULT_WECHAT_API_BASE, Settings
from db import wechat_memory as memory
from handlers.router import handle
from handlers.services import Services
from handlers.types import Button, Inbound, Outbound, plain_text

if TYPE_CHECKING:
    from db.models import OutboxMessage, Ticket
    from db.store import Store

log = logging.getLogger(__name__)

CHANNEL = "wechat"
MAX_BODY = 64 * 1024  # a callback is a few hundred bytes; anything near this is not WeChat
TEXT_LIMIT = 2048  # bytes of UTF-8 in one text message (passive reply or customer-service message)
REPLY_WITHIN = 4.0  # seconds: WeChat gives up on a passive reply after 5
KEEP_FINISHED = 60.0  # seconds a handled MsgId's reply is kept for WeChat's retries
FRESH_FOR = 300.0  # seconds a callback's timestamp may differ from our clock: WeChat's 3 tries take 15
SWEEP_EVERY = 60.0  # seconds between deletions of nonces too old to be accepted anyway
NONCE_MAX = 64  # characters: WeChat's nonces are about 10 digits
SUCCESS = "success"  # the answer that tells WeChat "received, nothing to say now"

# errcodes of the API: the access token is stale; the resident cannot be reached (45015: more
# than 48 hours since they last wrote, or they unfollowed; 43004: not following; 40003: not an
# openid of this account; 43019: in the account's blacklist); WeChat is busy or over quota.
TOKEN_STALE = frozenset({40001, 40014, 42001})
UNREACHABLE = frozenset({45015, 43004, 40003, 43019})
BUSY = {-1: 30.0, 45009: 3600.0, 45011: 60.0, 45047: 3600.0}


class BadMessage(ValueError):
    """A callback body we cannot read: not XML, a DTD or entities, missing fields, bad crypto."""


class WeChatApiError(Exception):
    """The API answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatUnavailable(Exception):
    """The API could not be reached, or answered with an HTTP error or something not JSON."""


# --------------------------------------------------------------------------------------------
# Reading callbacks
# --------------------------------------------------------------------------------------------


def parse_xml(body: bytes | str) -> dict[str, str]:
    """The fields of a WeChat XML message (`<xml><ToUserName>...`) as a dict.

    DTDs, entities and external references are refused (billion laughs, XXE), as is anything
    that is not one flat <xml> element.
    """
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BadMessage(f"refused XML: {type(exc).__name__}") from None
    except (ParseError, ValueError, TypeError) as exc:
        raise BadMessage(f"not well-formed XML: {exc}") from None
    if root.tag != "xml":
        raise BadMessage(f"the root element is <{root.tag}>, not <xml>")
    return {child.tag: (child.text or "").strip() for child in root}


async def read_body(request: web.Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refused with 413 past `limit` bytes (without reading all of it)."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    body = bytearray()
    while chunk := await request.content.read(16 * 1024):
        body += chunk
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    return bytes(body)


def to_inbound(message: dict[str, str]) -> Inbound | None:
    """The Inbound of a callback message; None for events that need no answer (unfollow, ...)."""
    openid = message.get("FromUserName")
    if not openid:
        raise BadMessage("the message has no FromUserName")
    kind = message.get("MsgType", "").lower()
    event = message.get("Event", "")
    # a MsgId is unique only among one resident's messages: another openid may send the same
    key = f"{openid}:" + (message.get("MsgId") or f"{message.get('CreateTime', '')}:{event}")
    inbound = Inbound(channel=CHANNEL, user_id=openid, chat_id=openid, message_id=message.get("MsgId") or None,
                      update_key=key)
    if kind == "text":
        return _with(inbound, text=message.get("Content", ""))
    if kind == "image":
        # The picture's URL, not its MediaId: staff see photos in Telegram, which fetches a URL
        # itself but knows nothing of WeChat's media ids.
        picture = message.get("PicUrl") or message.get("MediaId")
        return _with(inbound, photos=(picture,)) if picture else _with(inbound, unsupported="photo")
    if kind == "location":
        try:
            where = (float(message["Location_X"]), float(message["Location_Y"]))
        except (KeyError, ValueError):
            raise BadMessage("a location message without Location_X / Location_Y") from None
        return _with(inbound, location=where)
    if kind == "voice" and message.get("Recognition"):  # speech recognition is switched on
        return _with(inbound, text=message["Recognition"])
    if kind == "event":
        if event.lower() == "subscribe":  # a new follower gets the welcome
            return _with(inbound, text="/start")
        return None  # unsubscribe, menu views, scans, location reports: nothing to say
    return _with(inbound, unsupported={"shortvideo": "video"}.get(kind, kind or "other"))


def _with(inbound: Inbound, **values: Any) -> Inbound:
    return replace(inbound, **values)


# --------------------------------------------------------------------------------------------
# Writing replies
# --------------------------------------------------------------------------------------------


def render(messages: Sequence[Outbound]) -> tuple[str, list[Button]]:
    """Plain text of the messages, their buttons listed as numbered choices, and the choices."""
    parts, choices = [], []
    for message in messages:
        lines = [plain_text(message.text).strip()]
        for row in message.buttons:
            for button in row:
                choices.append(button)
                lines.append(f"[{len(choices)}] {button.label}")
        parts.append("\n".join(line for line in lines if line))
    return "\n\n".join(part for part in parts if part), choices


def split_bytes(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Chunks of at most `limit` bytes of UTF-8, cut at line breaks where possible."""
    chunks: list[str] = []
    for chunk in split_text(text, limit, html_markup=False):
        chunks += [chunk] if len(chunk.encode("utf-8")) <= limit else _resplit(chunk, limit)
    return chunks


def _resplit(chunk: str, limit: int) -> list[str]:
    """Chinese takes 3 bytes a character: cut `chunk` into fewer characters until each fits."""
    characters, size = len(chunk), len(chunk.encode("utf-8"))
    while True:
        characters = max(1, characters * limit // size - 1)
        pieces = split_text(chunk, characters, html_markup=False)
        if all(len(p.encode("utf-8")) <= limit for p in pieces):
            return pieces


def text_reply_xml(to_user: str, from_user: str, text: str, now: int | None = None) -> str:
    """A passive text reply (plain mode)."""
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(time.time()) if now is None else now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(text)}</Content></xml>"
    )


async def pick(store: Store, openid: str, text: str) -> Button | None:
    """The button a resident typed the number or label of: among the notice's choices when it
    was the last thing they were shown and no report is under way, else among the last reply's."""
    reply, notice, reporting = await memory.shown(store, openid)
    choices = reply if notice is None or reporting else notice
    return picked(text, [Button(c.label, c.data) for c in choices])


async def remember(store: Store, openid: str, choices: Sequence[Button], *, notice: bool) -> None:
    """Keep the choices just shown, for the digit that answers them. What was sent counts as
    sent even when this fails: the resident then types the label, or asks again."""
    try:
        await (memory.remember_notice if notice else memory.remember_reply)(store, openid, choices)
    except Exception:
        log.exception("the numbered choices shown to a WeChat resident could not be stored")


# --------------------------------------------------------------------------------------------
# The customer-service message API
# --------------------------------------------------------------------------------------------


class WeChatApi:
    """The few API calls we make, with one cached access token (stable_token endpoint).

    The token is refreshed 5 minutes before it expires, and once more when a call says it is
    stale (40001 / 40014 / 42001).
    """

    def __init__(self, app_id: str, app_secret: str, base_url: str = DEFAULT_WECHAT_API_BASE, timeout: float = 10.0) -> None:
        self.app_id = app_id
        self._secret = app_secret
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, path: str, payload: dict[str, Any], **query: str) -> dict[str, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")  # WeChat shows \\u escapes literally
        try:
            async with self._session.post(f"{self.base_url}{path}", params=query, data=body,
                                          headers={"Content-Type": "application/json; charset=utf-8"}) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WeChatUnavailable(f"{path}: {type(exc).__name__}: {exc}") from None
        if status >= 400:
            raise WeChatUnavailable(f"{path}: HTTP {status}")
        try:
            data = json.loads(raw)
        except ValueError:
            raise WeChatUnavailable(f"{path}: an answer that is not JSON") from None
        if not isinstance(data, dict):
            raise WeChatUnavailable(f"{path}: an answer that is not a JSON object")
        return data

    async def access_token(self, stale: str | None = None) -> str:
        """The cached token; a new one when it is about to expire or equals `stale`."""
        async with self._lock:
            if self._token and self._token != stale and time.monotonic() < self._expires_at:
                return self._token
            request = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
            data = await self._post("/cgi-bin/stable_token", {**request, "force_refresh": False})
            if stale is not None and data.get("access_token") == stale:
                # WeChat still hands out the token it just called invalid: force a new one
                data = await self._post("/cgi-bin/stable_token", {**request, "force_refresh": True})
            if data.get("errcode") or not data.get("access_token"):
                raise WeChatApiError(int(data.get("errcode") or -2), str(data.get("errmsg") or "no access_token"))
            self._token = str(data["access_token"])
            lifetime = int(data.get("expires_in") or 7200)
            self._expires_at = time.monotonic() + max(lifetime - 300, lifetime // 2)
            return self._token

    async def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        token = await self.access_token()
        data = await self._post(path, payload, access_token=token)
        if data.get("errcode") in TOKEN_STALE:
            log.info("WeChat access token refused (%s): fetching a new one", data.get("errcode"))
            token = await self.access_token(stale=token)
            data = await self._post(path, payload, access_token=token)
        if data.get("errcode"):
            raise WeChatApiError(int(data["errcode"]), str(data.get("errmsg", "")))
        return data

    async def send_text(self, openid: str, text: str) -> dict[str, Any]:
        """One customer-service text message (at most TEXT_LIMIT bytes)."""
        return await self.call("/cgi-bin/message/custom/send",
                               {"touser": openid, "msgtype": "text", "text": {"content": text}})


# --------------------------------------------------------------------------------------------
# The callback
# --------------------------------------------------------------------------------------------


@dataclass
class _Job:
    """One MsgId being handled (or handled a moment ago): its reply and who delivers it."""

    openid: str
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
            return web.Response(text=SUCCESS)
        text = await self.answer(inbound)
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
            await memory.forget_old(self.store, int(time.time() - FRESH_FOR))
        return await memory.first_use(self.store, int(timestamp), nonce, hashlib.sha256(body).hexdigest())

    # -- the 5-second rule ----------------------------------------------------------------

    async def answer(self, inbound: Inbound) -> str | None:
        """The text of the passive reply, or None: answer "success" (the reply, if any, goes
        through the customer-service API when it is ready)."""
        key = inbound.update_key or ""
        job = self._jobs.get(key)
        if job is None:
            job = self._jobs[key] = _Job(inbound.user_id)
            self._spawn(self._run(key, job, inbound))
        if job.chunks is None:
            job.waiters += 1
            try:
                await asyncio.wait_for(job.ready.wait(), self.reply_within)
            except TimeoutError:
                pass
            except asyncio.CancelledError:  # the request went away: the reply must not
                job.waiters -= 1
                self._deliver_late(job)
                raise
            job.waiters -= 1
        if job.chunks is None:
            log.info("WeChat reply to %s not ready in %.1f s: it follows by the customer-service API",
                     key, self.reply_within)
            return None
        return self._claim_passive(job)

    def _claim_passive(self, job: _Job) -> str | None:
        if job.delivery is None:
            if not job.chunks:
                job.delivery = "none"
            elif len(job.chunks) == 1 or self.api is None:
                job.delivery = "passive"
                if len(job.chunks) > 1:
                    log.warning("a %d-part WeChat reply without WECHAT_APP_SECRET: only the first part is sent",
                                len(job.chunks))
            else:  # several messages: all through the API, in order
                job.delivery = "api"
                self._spawn(self._send_late(job))
        return job.chunks[0] if job.delivery == "passive" else None  # a retry gets the same reply

    def _deliver_late(self, job: _Job) -> None:
        """The reply is ready and no request is waiting for it: the API sends it."""
        if job.chunks is not None and job.waiters == 0 and job.delivery is None:
            job.delivery = "api" if job.chunks else "none"
            if job.chunks:
                self._spawn(self._send_late(job))

    async def _run(self, key: str, job: _Job, inbound: Inbound) -> None:
        try:
            async with self._user_lock(inbound.user_id):
                messages = await self._handle(inbound)
                text, choices = render(messages)
                if messages:  # nothing shown (a repeated delivery): the choices shown before still hold
                    await remember(self.store, inbound.user_id, choices, notice=False)
            job.chunks = split_bytes(text) if text else []
            job.ready.set()
            self._deliver_late(job)
        finally:
            if job.chunks is None:  # failed or cancelled: let a retry try again
                self._jobs.pop(key, None)
            else:
                asyncio.get_running_loop().call_later(KEEP_FINISHED, self._jobs.pop, key, None)

    async def _handle(self, inbound: Inbound) -> list[Outbound]:
        """The router's reply; a digit answering numbered choices is the button it stands for."""
        try:
            if inbound.text and (button := await pick(self.store, inbound.user_id, inbound.text)) is not None:
                inbound = _with(inbound, text="", callback=button.data)
            return (await handle(inbound, self.services)).messages
        except Exception:
            log.exception("error while handling WeChat message %s", inbound.update_key)
            return [Outbound(self.services.texts.render("error", self.services.default_language))]

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
        from db import outbox

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
        if self._tasks:
            done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("%d WeChat replies cancelled at shutdown", len(pending))
        if self.api is not None:
            await self.api.close()


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


# --------------------------------------------------------------------------------------------
# The outbox's sender for WeChat residents
# --------------------------------------------------------------------------------------------


class WeChatSender:
    """Delivers outbox rows of channel "wechat" (staff replies, status notices) as
    customer-service messages; their buttons become the resident's numbered choices."""

    channel = CHANNEL

    def __init__(self, wechat: WeChatChannel) -> None:
        self.wechat = wechat

    async def send(self, row: OutboxMessage, ticket: Ticket | None) -> Any:
        from bot.delivery import Refused, RetryLater, Sent
        from db.outbox import buttons_of

        api = self.wechat.api
        if api is None:
            raise Refused("WECHAT_APP_ID / WECHAT_APP_SECRET are not set: no customer-service messages", False)
        text, choices = render([Outbound(row.text, as_buttons(buttons_of(row)))])
        if row.photo:
            log.info("outbox %s: a photo cannot be sent to WeChat; the text goes alone", row.id)
        result: dict[str, Any] = {}
        try:
            for chunk in split_bytes(text) if text else []:
                result = await api.send_text(row.chat_id, chunk)
        except WeChatUnavailable as exc:
            raise RetryLater(30.0) from exc
        except WeChatApiError as exc:
            if exc.errcode in UNREACHABLE:
                raise Refused(str(exc), True) from exc
            if exc.errcode in BUSY:
                raise RetryLater(BUSY[exc.errcode]) from exc
            if exc.errcode in TOKEN_STALE or exc.errcode in (40013, 40125, 40164, 41004, -2):
                raise RetryLater(600.0) from exc  # our credentials or IP whitelist: retry once fixed
            raise Refused(str(exc), False) from exc
        # the resident answers with a digit; one without choices ends the last one's (a rating
        # question), so that a digit answering a staff question is not a rating
        await remember(self.wechat.store, row.chat_id, choices, notice=True)
        return Sent(str(result.get("msgid") or f"wechat-{row.id}"))
