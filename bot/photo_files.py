"""Residents' photos for the staff console: fetched once through the channel's file API, kept on disk.

A ticket keeps its photos as the channel gave them (Ticket.photos): a Telegram file id, which
the Bot API turns into a download (getFile, then /file/bot<token>/<file_path>), or a WeChat
picture's PicUrl, fetched as it is. A WeChat MediaId alone (a message without PicUrl) would need
the channel's access token (media/get): not fetched here, the page says the photo is unavailable.
Files are kept in PHOTO_DIR under the SHA-256 of channel and id, written under a temporary name
and renamed, so a half-downloaded file is never served; only images (JPEG, PNG, GIF, WebP, by
their first bytes) are kept.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import aiohttp

log = logging.getLogger(__name__)

DEFAULT_TELEGRAM_BASE = "https://api.telegram.org/bot"
MAX_BYTES = 20 * 2**20  # the Bot API's own limit for getFile downloads
TIMEOUT = aiohttp.ClientTimeout(total=30)
IMAGES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF8", "image/gif"))


class PhotoUnavailable(Exception):
    """The channel cannot give this photo (gone, not an image, no way to fetch it)."""


def image_type(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in IMAGES if head.startswith(magic)), None)


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

    async def get(self, channel: str, file_id: str) -> tuple[Path, str]:
        """The photo's file on disk and its content type, downloaded the first time."""
        path = self.path(channel, file_id)
        if not path.exists():
            content = await self._download(channel, file_id)
            self.folder.mkdir(parents=True, exist_ok=True)
            part = path.with_name(f"{path.name}.{os.getpid()}.part")
            part.write_bytes(content)
            os.replace(part, path)
        with path.open("rb") as f:
            kind = image_type(f.read(16))
        if kind is None:
            raise PhotoUnavailable("not an image")
        return path, kind

    async def _download(self, channel: str, file_id: str) -> bytes:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            if channel == "telegram":
                if not self.token:
                    raise PhotoUnavailable("no TELEGRAM_BOT_TOKEN to fetch Telegram files with")
                async with http.get(f"{self.api}{self.token}/getFile", params={"file_id": file_id}) as response:
                    answer = await response.json(content_type=None)
                if not answer.get("ok") or not answer["result"].get("file_path"):
                    raise PhotoUnavailable(f"getFile: {answer.get('description', 'no file_path')}")
                url = f"{self.files}{self.token}/{answer['result']['file_path']}"
            elif file_id.startswith(("http://", "https://")):  # a WeChat PicUrl
                url = file_id
            else:
                raise PhotoUnavailable(f"a {channel} media id without a URL")
            async with http.get(url) as response:
                if response.status != 200:
                    raise PhotoUnavailable(f"download: HTTP {response.status}")
                content = await response.content.read(MAX_BYTES + 1)
        if len(content) > MAX_BYTES or image_type(content[:16]) is None:
            raise PhotoUnavailable("too large or not an image")
        return content
