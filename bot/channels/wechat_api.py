"""WeChat's customer-service message API: the few calls we make, with one cached access token.

Errors become two exceptions: `WeChatApiError` (a non-zero errcode; the sets below say what
the commonest mean) and `WeChatUnavailable` (unreachable, an HTTP error, not JSON).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp

from bot.settings import DEFAULT_WECHAT_API_BASE

log = logging.getLogger(__name__)

# errcodes of the API: the access token is stale; the resident has not written for 48 hours (a
# customer-service message may not reach them, a template message may); the resident cannot be
# reached (43004: not following; 40003: not an openid of this account; 43019: in the account's
# blacklist); WeChat is busy or over quota.
TOKEN_STALE = frozenset({40001, 40014, 42001})
OUT_OF_WINDOW = 45015
UNREACHABLE = frozenset({43004, 40003, 43019})
BUSY = {-1: 30.0, 45009: 3600.0, 45011: 60.0, 45047: 3600.0}


class WeChatApiError(Exception):
    """The API answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatUnavailable(Exception):
    """The API could not be reached, or answered with an HTTP error or something not JSON."""


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

    async def get_media(self, media_id: str, limit: int) -> bytes:
        """A resident's picture by its MediaId (media/get): its bytes, at most `limit`. WeChat
        answers JSON with an errcode instead when it has no such media."""
        token = await self.access_token()
        for attempt in (1, 2):
            content, data = await self._get_media(media_id, token, limit)
            if data is None:
                return content
            if data.get("errcode") in TOKEN_STALE and attempt == 1:
                token = await self.access_token(stale=token)
                continue
            raise WeChatApiError(int(data.get("errcode") or -2), str(data.get("errmsg", "")))
        raise AssertionError("unreachable")

    async def _get_media(self, media_id: str, token: str, limit: int) -> tuple[bytes, dict[str, Any] | None]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(f"{self.base_url}/cgi-bin/media/get", allow_redirects=False,
                                         params={"access_token": token, "media_id": media_id}) as response:
                content = await response.content.read(limit + 1)
                status, kind = response.status, response.content_type
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WeChatUnavailable(f"media/get: {type(exc).__name__}: {exc}") from None
        if status != 200:
            raise WeChatUnavailable(f"media/get: HTTP {status}")
        if kind in ("application/json", "text/plain"):
            try:
                data = json.loads(content)
            except ValueError:
                raise WeChatUnavailable("media/get: an answer that is neither a file nor JSON") from None
            return b"", data if isinstance(data, dict) else {"errcode": -2}
        if len(content) > limit:
            raise WeChatApiError(-2, "media/get: a file over the size limit")
        return content, None

    async def send_template(self, openid: str, template_id: str, data: dict[str, str], url: str | None = None) -> dict[str, Any]:
        """One template message: each field's value as WeChat wants it ({"value": ...})."""
        payload: dict[str, Any] = {"touser": openid, "template_id": template_id,
                                   "data": {name: {"value": value} for name, value in data.items()}}
        if url:
            payload["url"] = url
        return await self.call("/cgi-bin/message/template/send", payload)

    async def send_text(self, openid: str, text: str) -> dict[str, Any]:
        """One customer-service text message (at most TEXT_LIMIT bytes)."""
        return await self.call("/cgi-bin/message/custom/send",
                               {"touser": openid, "msgtype": "text", "text": {"content": text}})

