"""The office's WeCom (企业微信) group robot: a sender of the outbox (bot/delivery.py) for the rows
of db.outbox.to_office_robot, posted to WECOM_ROBOT_URL as markdown messages.

WeCom answers {"errcode": 0, "errmsg": "ok"}; 45009 means the robot's limit of 20 messages a
minute was reached (tried again in a minute); a network error or a 5xx is tried again like any
channel's; any other errcode (a wrong or deleted key: 93000) is a refusal, so the row fails and
its chat goes on. Markdown content may have at most 4096 bytes.
"""
from __future__ import annotations

import logging

import aiohttp

from bot.delivery import Refused, RetryLater, Sent
from db.models import OutboxMessage, Ticket

log = logging.getLogger(__name__)

MAX_BYTES = 4096  # WeCom's limit on a markdown message's content
TIMEOUT = aiohttp.ClientTimeout(total=15)
RATE_LIMITED = 45009  # over 20 messages a minute
BUSY = -1  # WeCom's "system busy"


def fit(text: str, limit: int = MAX_BYTES) -> str:
    """The text cut to `limit` bytes of UTF-8, never inside a character."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


class WeComRobot:
    def __init__(self, url: str) -> None:
        self.url = url
        self._http: aiohttp.ClientSession | None = None

    async def send(self, row: OutboxMessage, ticket: Ticket | None) -> Sent:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=TIMEOUT)
        body = {"msgtype": "markdown", "markdown": {"content": fit(row.text)}}
        try:
            async with self._http.post(self.url, json=body) as response:
                if response.status == 429 or response.status >= 500:
                    raise RetryLater(None, f"WeCom robot: HTTP {response.status}")
                if response.status != 200:
                    raise Refused(f"WeCom robot: HTTP {response.status}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:  # ValueError: not JSON
            raise RetryLater(None, f"WeCom robot: {type(error).__name__}: {error}") from error
        code = answer.get("errcode") if isinstance(answer, dict) else None
        if code == 0:
            return Sent("wecom")
        reason = f"WeCom robot: errcode {code}: {str(answer.get('errmsg', ''))[:200] if isinstance(answer, dict) else answer}"
        if code == RATE_LIMITED:
            raise RetryLater(60.0, reason)
        if code == BUSY:
            raise RetryLater(None, reason)
        raise Refused(reason)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
