"""A strict fake of a WeCom (企业微信) group robot's webhook on loopback, for tests (what
tests/fake_bot_api.py is for Telegram). The bot posts to it through WECOM_ROBOT_URL.

As strict as WeCom where the bot could get it wrong:
- `POST /cgi-bin/webhook/send?key=KEY`: another key is errcode 93000 (invalid webhook url);
- the body is JSON with `msgtype` "markdown" (or "text") and its content: 1 to 4096 bytes of
  UTF-8 (40058 otherwise), as WeCom counts;
- at most 20 messages a minute (45009 after that: `limit` lowers it for a test);
- injected failures: `fail_next` (errcodes for the next messages), `http_fail_next` (HTTP statuses).
Accepted messages are kept in `received` (their content, as posted).
"""
from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
CONTENT_LIMIT = 4096  # bytes of a markdown message's content


class FakeWeComRobot:
    def __init__(self, key: str = KEY, limit: int = 20) -> None:
        self.key, self.limit = key, limit
        self.received: list[str] = []
        self.answers: list[int] = []  # every errcode answered, 0 included
        self._sent_at: list[float] = []
        self._fail: list[int] = []
        self._http_fail: list[int] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def fail_next(self, *errcodes: int) -> None:
        self._fail.extend(errcodes)

    def http_fail_next(self, *statuses: int) -> None:
        self._http_fail.extend(statuses)

    async def __aenter__(self) -> FakeWeComRobot:
        app = web.Application()
        app.router.add_post("/cgi-bin/webhook/send", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={self.key}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _answer(self, errcode: int, errmsg: str) -> web.Response:
        self.answers.append(errcode)
        return web.json_response({"errcode": errcode, "errmsg": errmsg})

    async def _send(self, request: web.Request) -> web.Response:
        if self._http_fail:
            return web.Response(status=self._http_fail.pop(0), text="bad gateway")
        if request.query.get("key") != self.key:
            return self._answer(93000, "invalid webhook url")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._answer(40001, "invalid json")
        kind = body.get("msgtype") if isinstance(body, dict) else None
        if kind not in ("markdown", "text") or not isinstance(body.get(kind), dict):
            return self._answer(40008, "invalid message type")
        content = body[kind].get("content")
        if not isinstance(content, str) or not content.strip() or len(content.encode("utf-8")) > CONTENT_LIMIT:
            return self._answer(40058, "content exceed max length or is empty")
        if self._fail:
            return self._answer(self._fail.pop(0), "injected")
        now = time.monotonic()
        self._sent_at = [t for t in self._sent_at if now - t < 60]
        if len(self._sent_at) >= self.limit:
            return self._answer(45009, "api freq out of limit")
        self._sent_at.append(now)
        self.received.append(content)
        return self._answer(0, "ok")
