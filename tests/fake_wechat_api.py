"""A strict fake of WeChat's Official Account API on loopback, for tests (what tests/fake_bot_api.py
is for Telegram). The bot reaches it through WECHAT_API_BASE.

As strict as WeChat where the bot could get it wrong:

- `stable_token`: the app id and secret must be ours; the token is good until the fake expires it
  (`expire_next`), and only the newest is good;
- `message/custom/send` (customer-service message): only to a follower who wrote within the last
  48 hours of the fake's clock (`wrote`, `advance`), else 45015 (43004 for one who unfollowed);
  only `text` with 1-2048 bytes of content, UTF-8 as is (WeChat shows \\u escapes literally);
- `message/template/send`: only a registered template (`templates`: id -> its field names), with
  every field it names and no other, each `{"value": str}` of at most FIELD_LIMIT characters,
  to a follower (no 48-hour rule); an optional `url` must be https;
- `media/get`: the bytes of a media id registered with `add_media`, else 40007 (as JSON);
- `menu/create`: at most 3 buttons, 5 under each, names of at most 16 bytes (60 under a button),
  `click` with a key of at most 128 bytes, keys unique;
- injected failures: `fail_next` (errcodes for the next calls of any API but the token's),
  `http_fail_next` (HTTP statuses for them), as WeChat answers when busy or broken.

Every request is kept in `calls` (path, query, JSON body) for the tests to look at.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

APP_ID = "wx2c2769f8efd9abc2"
APP_SECRET = "the-app-secret"
WINDOW = 48 * 3600.0  # seconds after a resident wrote that customer-service messages may reach them
TEXT_LIMIT = 2048  # bytes of a customer-service text
FIELD_LIMIT = 20  # characters of a template field (thing / keyword fields since 2023)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # enough of a PNG for the bot's check of the first bytes


@dataclass
class Call:
    path: str
    query: dict[str, str]
    body: Any = None
    answer: dict[str, Any] = field(default_factory=dict)


class FakeWeChatApi:
    def __init__(self, app_id: str = APP_ID, app_secret: str = APP_SECRET) -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.calls: list[Call] = []
        self.token_requests: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []  # accepted customer-service messages
        self.templates_sent: list[dict[str, Any]] = []  # accepted template messages
        self.refused: list[int] = []  # errcodes answered to sends
        self.templates: dict[str, tuple[str, ...]] = {}  # template id -> its field names
        self.media: dict[str, bytes] = {}
        self.menu: dict[str, Any] | None = None
        self.valid_token: str | None = None
        self.expire_next = 0  # answer 42001 to the next N calls (and hand out a new token)
        self.fail_next: list[int] = []  # errcodes to answer the next calls with
        self.http_fail_next: list[int] = []  # HTTP statuses to answer the next calls with
        self.offset = 0.0  # seconds the fake's clock is ahead of time.time()
        self._wrote: dict[str, float] = {}  # openid -> when (fake clock) they last wrote
        self._unfollowed: set[str] = set()
        self._tokens = itertools.count(1)
        self._msgids = itertools.count(1000)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- what the test tells the fake --------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.offset

    def wrote(self, openid: str, hours_ago: float = 0.0) -> None:
        """The resident wrote to the account (the 48-hour window opens from then)."""
        self._wrote[openid] = self.now() - hours_ago * 3600
        self._unfollowed.discard(openid)

    def advance(self, hours: float) -> None:
        self.offset += hours * 3600

    def unfollow(self, openid: str) -> None:
        self._unfollowed.add(openid)

    def add_template(self, template_id: str, *fields: str) -> None:
        self.templates[template_id] = fields

    def add_media(self, media_id: str, content: bytes = PNG) -> None:
        self.media[media_id] = content

    def texts_to(self, openid: str) -> list[str]:
        return [m["text"]["content"] for m in self.sent if m["touser"] == openid]

    def templates_to(self, openid: str) -> list[dict[str, Any]]:
        return [m for m in self.templates_sent if m["touser"] == openid]

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    async def wait_for(self, openid: str, n: int, timeout: float = 5.0, templates: bool = False) -> list[Any]:
        """Until `n` customer-service texts (or template messages) reached `openid`."""
        deadline = time.monotonic() + timeout
        got = self.templates_to if templates else self.texts_to
        while len(got(openid)) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} messages to {openid}, got {got(openid)}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), 0.1)
            except TimeoutError:
                pass
        return got(openid)

    # -- the server --------------------------------------------------------------------------

    async def __aenter__(self) -> FakeWeChatApi:
        app = web.Application()
        app.router.add_post("/cgi-bin/stable_token", self._stable_token)
        app.router.add_post("/cgi-bin/message/custom/send", self._api(self._custom_send))
        app.router.add_post("/cgi-bin/message/template/send", self._api(self._template_send))
        app.router.add_get("/cgi-bin/media/get", self._api(self._media_get))
        app.router.add_post("/cgi-bin/menu/create", self._api(self._menu_create))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _stable_token(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.token_requests.append(body)
        self.calls.append(Call(request.path, dict(request.query), body))
        if (body.get("grant_type"), body.get("appid"), body.get("secret")) != ("client_credential", self.app_id,
                                                                              self.app_secret):
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        if self.valid_token is None or body.get("force_refresh"):
            self.valid_token = f"ACCESS_TOKEN_{next(self._tokens)}"
        return web.json_response({"access_token": self.valid_token, "expires_in": 7200})

    def _api(self, handler):
        """The checks every API call gets: the access token, then the injected failures."""

        async def checked(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            body = json.loads(raw) if raw else None
            call = Call(request.path, dict(request.query), body)
            self.calls.append(call)
            token = request.query.get("access_token")
            if self.expire_next and token == self.valid_token:
                self.expire_next -= 1
                self.valid_token = None  # a new one on the next stable_token call
            if self.http_fail_next:
                return web.Response(status=self.http_fail_next.pop(0), text="bad gateway")
            if token is None or token != self.valid_token:
                answer = {"errcode": 42001, "errmsg": "access_token expired"}
            elif self.fail_next:
                code = self.fail_next.pop(0)
                answer = {"errcode": code, "errmsg": "injected"}
            else:
                if raw and request.method == "POST":
                    assert b"\\u" not in raw, raw  # UTF-8 as is: WeChat shows \u escapes literally
                result = handler(request, body)
                if isinstance(result, web.StreamResponse):
                    self._changed.set()
                    return result
                answer = result
            call.answer = answer
            if answer.get("errcode") and request.path.endswith("/send"):
                self.refused.append(answer["errcode"])
            self._changed.set()
            return web.json_response(answer)

        return checked

    def _reachable(self, openid: Any) -> dict[str, Any] | None:
        if not isinstance(openid, str) or not openid or len(openid) > 64:
            return {"errcode": 40003, "errmsg": "invalid openid"}
        if openid in self._unfollowed:
            return {"errcode": 43004, "errmsg": "require subscribe"}
        return None

    def _custom_send(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        if (refusal := self._reachable(body.get("touser"))) is not None:
            return refusal
        wrote = self._wrote.get(body["touser"])
        if wrote is None or self.now() - wrote > WINDOW:
            return {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"}
        if body.get("msgtype") != "text" or not isinstance(body.get("text"), dict):
            return {"errcode": 40008, "errmsg": "invalid message type"}
        content = body["text"].get("content")
        if not isinstance(content, str) or not content or len(content.encode()) > TEXT_LIMIT:
            return {"errcode": 45002, "errmsg": "content size out of limit"}
        self.sent.append({**body, "access_token": request.query["access_token"]})
        return {"errcode": 0, "errmsg": "ok"}

    def _template_send(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        if (refusal := self._reachable(body.get("touser"))) is not None:
            return refusal
        fields = self.templates.get(body.get("template_id"))
        if fields is None:
            return {"errcode": 40037, "errmsg": "invalid template_id"}
        data = body.get("data")
        if not isinstance(data, dict) or set(data) != set(fields):
            return {"errcode": 47003, "errmsg": "argument invalid! data.* not match"}
        for value in data.values():
            if (not isinstance(value, dict) or not isinstance(value.get("value"), str)
                    or not value["value"] or len(value["value"]) > FIELD_LIMIT):
                return {"errcode": 47003, "errmsg": "argument invalid! data.*.value invalid"}
        if "url" in body and not str(body["url"]).startswith("https://"):
            return {"errcode": 40039, "errmsg": "invalid url"}
        msgid = next(self._msgids)
        self.templates_sent.append({**body, "msgid": msgid})
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def _media_get(self, request: web.Request, body: Any) -> Any:
        content = self.media.get(request.query.get("media_id", ""))
        if content is None:
            return {"errcode": 40007, "errmsg": "invalid media_id"}
        return web.Response(body=content, content_type="image/png")

    def _menu_create(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        buttons = body.get("button") if isinstance(body, dict) else None
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return {"errcode": 40016, "errmsg": "invalid button size"}
        keys: set[str] = set()
        for button in buttons:
            subs = button.get("sub_button")
            if not isinstance(button.get("name"), str) or not button["name"] or len(button["name"].encode()) > 16:
                return {"errcode": 40018, "errmsg": "invalid button name size"}
            if subs:
                if len(subs) > 5:
                    return {"errcode": 40023, "errmsg": "invalid sub button size"}
                for sub in subs:
                    if not isinstance(sub.get("name"), str) or not sub["name"] or len(sub["name"].encode()) > 60:
                        return {"errcode": 40018, "errmsg": "invalid button name size"}
                    if (refusal := self._click(sub, keys)) is not None:
                        return refusal
            elif (refusal := self._click(button, keys)) is not None:
                return refusal
        self.menu = body
        return {"errcode": 0, "errmsg": "ok"}

    @staticmethod
    def _click(button: dict[str, Any], keys: set[str]) -> dict[str, Any] | None:
        if button.get("type") != "click":
            return {"errcode": 40017, "errmsg": "invalid button type"}
        key = button.get("key")
        if not isinstance(key, str) or not key or len(key.encode()) > 128 or key in keys:
            return {"errcode": 40019, "errmsg": "invalid button key size"}
        keys.add(key)
        return None
