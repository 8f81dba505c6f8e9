"""Residents' photos for the staff console: kept on disk, fetched once from the channel.

A ticket keeps its photos as ids of their channel (Ticket.photos), and nothing a message names
is trusted as a place to read from:

- Telegram: a file id (letters, digits, - and _ only: never a path or a URL, which the Telegram
  library would read or upload), fetched through the Bot API the first time staff open it
  (getFile, then /file/bot<token>/<file_path>);
- WeChat: the MediaId, fetched at intake (bot/channels/wechat.py) through media/get with the
  access token, or else from the message's PicUrl, but only from WeChat's own image hosts
  (WECHAT_IMAGE_HOSTS) over https, at a public address, without following redirects. The
  console only shows what was kept then: it never fetches a WeChat photo.

Files are kept in PHOTO_DIR under the SHA-256 of channel and id, written under a temporary name
and renamed, so a half-written file is never served; only images (JPEG, PNG, GIF, WebP, by
their first bytes) are kept.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

log = logging.getLogger(__name__)

DEFAULT_TELEGRAM_BASE = "https://api.telegram.org/bot"
MAX_BYTES = 20 * 2**20  # the Bot API's own limit for getFile downloads
TIMEOUT = aiohttp.ClientTimeout(total=30)
IMAGES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF8", "image/gif"))
FILE_ID = re.compile(r"[A-Za-z0-9_-]{1,256}")  # a Telegram file id, a WeChat MediaId: nothing else
WECHAT_IMAGE_HOSTS = ("qpic.cn", "qlogo.cn")  # mmbiz.qpic.cn, mmbiz.qlogo.cn, wx.qlogo.cn, ...


class PhotoUnavailable(Exception):
    """The channel cannot give this photo (gone, not an image, no way to fetch it, not allowed)."""


def image_type(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in IMAGES if head.startswith(magic)), None)


def is_file_id(value: Any) -> bool:
    """A platform's id of a file, and nothing that could be read as a path or a URL."""
    return isinstance(value, str) and FILE_ID.fullmatch(value) is not None


def wechat_picture_url(url: Any) -> str | None:
    """The URL when it is an https address of WeChat's image hosts (no user, no port), else None."""
    if not isinstance(url, str) or len(url) > 1024:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or parts.username or parts.password or port not in (None, 443):
        return None
    if not any(host == h or host.endswith("." + h) for h in WECHAT_IMAGE_HOSTS):
        return None
    return url


class PublicOnly(AbstractResolver):
    """Resolves names to public addresses only: a name that resolves to a loopback, private,
    link-local or otherwise non-global address is refused (so DNS cannot point a fetch inward)."""

    def __init__(self, resolver: AbstractResolver | None = None, allowed: Callable[[Any], bool] | None = None) -> None:
        self.resolver = resolver or DefaultResolver()
        self.allowed = allowed or (lambda address: address.is_global)

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        found = [a for a in await self.resolver.resolve(host, port, family) if self.allowed(ipaddress.ip_address(a["host"]))]
        if not found:
            raise OSError(f"{host} has no public address")
        return found

    async def close(self) -> None:
        await self.resolver.close()


async def fetch_wechat_picture(url: str, resolver: AbstractResolver | None = None, ssl: Any = True,
                               allowed: Callable[[Any], bool] | None = None) -> bytes:
    """A resident's picture from WeChat's image host: https, a public address, no redirect.
    (`resolver`, `ssl` and `allowed`: tests serve "WeChat's image host" on loopback.)"""
    if wechat_picture_url(url) is None:
        raise PhotoUnavailable("not an https URL of WeChat's image hosts")
    connector = aiohttp.TCPConnector(resolver=PublicOnly(resolver, allowed), ssl=ssl)
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT, connector=connector) as http, \
                http.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise PhotoUnavailable(f"download: HTTP {response.status}")  # a redirect is not followed
            content = await response.content.read(MAX_BYTES + 1)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise PhotoUnavailable(f"download: {type(exc).__name__}") from None
    return checked(content)


def checked(content: bytes) -> bytes:
    if len(content) > MAX_BYTES or image_type(content[:16]) is None:
        raise PhotoUnavailable("too large or not an image")
    return content


class PhotoFiles:
    def __init__(self, folder: Path, telegram_token: str | None, telegram_base_url: str | None):
        self.folder = Path(folder)
        self.token = telegram_token
        base = (telegram_base_url or DEFAULT_TELEGRAM_BASE).rstrip("/")
        self.api = base
        # PTB's convention: https://api.telegram.org/bot -> https://api.telegram.org/file/bot
        self.files = base[: -len("bot")] + "file/bot" if base.endswith("/bot") else base.rsplit("/", 1)[0] + "/file/bot"

    def path(self, channel: str, file_id: str) -> Path:
        """Where the photo is kept (whether it is there yet or not)."""
        return self.folder / hashlib.sha256(f"{channel}:{file_id}".encode()).hexdigest()

    def has(self, channel: str, file_id: str) -> bool:
        return self.path(channel, file_id).exists()

    def keep(self, channel: str, file_id: str, content: bytes) -> Path:
        """Keep a photo fetched at intake (an image, or PhotoUnavailable)."""
        checked(content)
        path = self.path(channel, file_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        part.write_bytes(content)
        os.replace(part, path)
        return path

    async def get(self, channel: str, file_id: str) -> tuple[Path, str]:
        """The photo's file on disk and its content type; a Telegram photo is downloaded the
        first time, a WeChat one was kept at intake or is unavailable."""
        if not is_file_id(file_id):
            raise PhotoUnavailable("not a file id")
        path = self.path(channel, file_id)
        if not path.exists():
            if channel != "telegram":
                raise PhotoUnavailable(f"a {channel} photo not kept at intake")
            self.keep(channel, file_id, await self._from_telegram(file_id))
        with path.open("rb") as f:
            kind = image_type(f.read(16))
        if kind is None:
            raise PhotoUnavailable("not an image")
        return path, kind

    async def _from_telegram(self, file_id: str) -> bytes:
        if not self.token:
            raise PhotoUnavailable("no TELEGRAM_BOT_TOKEN to fetch Telegram files with")
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            async with http.get(f"{self.api}{self.token}/getFile", params={"file_id": file_id}) as response:
                answer = await response.json(content_type=None)
            file_path = answer.get("result", {}).get("file_path") if answer.get("ok") else None
            if not isinstance(file_path, str) or not file_path or ".." in file_path.split("/") or file_path.startswith("/"):
                raise PhotoUnavailable(f"getFile: {answer.get('description', 'no file_path')}")
            async with http.get(f"{self.files}{self.token}/{file_path}", allow_redirects=False) as response:
                if response.status != 200:
                    raise PhotoUnavailable(f"download: HTTP {response.status}")
                content = await response.content.read(MAX_BYTES + 1)
        return checked(content)
