"""WeChat's message format: a callback's XML read into an Inbound, replies written as XML and
plain text cut to WeChat's 2048 bytes.

DTDs, entities and external references are refused (billion laughs, XXE), as is a body over
MAX_BODY bytes. Every field the bot uses is checked before anything is stored (FIELDS: ids of
bounded length and characters, a location that is a place on Earth); a message that fails is
refused as malformed (400), not half-read.
"""
from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import replace
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from aiohttp import web
from defusedxml import DefusedXmlException

from bot.channels.common import split_text
from bot.channels.wechat_crypto import cdata
from bot.channels.wechat_menu import COMMANDS
from bot.photo_files import is_file_id
from handlers.types import Inbound

CHANNEL = "wechat"
MAX_BODY = 64 * 1024  # a callback is a few hundred bytes; anything near this is not WeChat
TEXT_LIMIT = 2048  # bytes of UTF-8 in one text message (passive reply or customer-service message)


class BadMessage(ValueError):
    """A callback body we cannot read: not XML, a DTD or entities, missing fields, bad crypto."""


_ID = r"[A-Za-z0-9_-]"
FIELDS = {  # the fields the bot reads, each as WeChat sends it (an absent field is "")
    "ToUserName": re.compile(rf"{_ID}{{1,64}}"),  # gh_...: the account
    "FromUserName": re.compile(rf"{_ID}{{1,64}}"),  # the resident's openid (28 characters)
    "CreateTime": re.compile(r"\d{1,12}"),
    "MsgType": re.compile(r"[a-z_]{1,32}"),
    "MsgId": re.compile(r"\d{1,20}"),  # 64 bits
    "MediaId": re.compile(rf"{_ID}{{1,128}}"),
    "Event": re.compile(r"[A-Za-z_]{1,32}"),
    "Format": re.compile(r"[A-Za-z0-9]{0,16}"),
    "Scale": re.compile(r"\d{0,4}"),
}
MENU_KEY = re.compile(r"[A-Za-z0-9_:-]{1,128}")
EVENT_KEY = re.compile(r"[\x21-\x7e]{0,1024}")
TEXT_FIELDS = {"Content": 4096, "Recognition": 2048, "Label": 256, "PicUrl": 1024}  # characters at most


def check_fields(message: dict[str, str]) -> None:
    """Every field the bot reads, as WeChat sends it; BadMessage naming the first that is not."""
    for name, pattern in FIELDS.items():
        value = message.get(name)
        if value is not None and value != "" and not pattern.fullmatch(value):
            raise BadMessage(f"the field {name} is malformed")
    for name, limit in TEXT_FIELDS.items():
        if len(message.get(name, "")) > limit:
            raise BadMessage(f"the field {name} is over {limit} characters")
    key = message.get("EventKey", "")
    # a menu click's key is one of ours; other events' (a scanned code, a menu link) printable ASCII
    if not (MENU_KEY if message.get("Event", "").lower() == "click" else EVENT_KEY).fullmatch(key):
        raise BadMessage("the field EventKey is malformed")


def coordinates(latitude: str, longitude: str) -> tuple[float, float]:
    """A place on Earth (finite, latitude within ±90, longitude within ±180), or BadMessage."""
    try:
        where = float(latitude), float(longitude)
    except (TypeError, ValueError):
        raise BadMessage("a location that is not numbers") from None
    if not all(math.isfinite(v) for v in where) or abs(where[0]) > 90 or abs(where[1]) > 180:
        raise BadMessage("a location that is not a place on Earth")
    return where


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
    check_fields(message)
    kind = message.get("MsgType", "").lower()
    event = message.get("Event", "")
    # a MsgId is unique only among one resident's messages: another openid may send the same
    # an event has no MsgId: its time and a digest of what it is (a menu key may be long)
    what = hashlib.sha256(f"{event}:{message.get('EventKey', '')}".encode()).hexdigest()[:16]
    key = f"{openid}:" + (message.get("MsgId") or f"{message.get('CreateTime', '')}:{what}")
    inbound = Inbound(channel=CHANNEL, user_id=openid, chat_id=openid, message_id=message.get("MsgId") or None,
                      update_key=key)
    if kind == "text":
        return _with(inbound, text=message.get("Content", ""))
    if kind == "image":
        # The MediaId names the photo; the channel fetches it (or the PicUrl, from WeChat's own
        # image hosts only) once, now, into the console's photos (bot/photo_files.py).
        media_id = message.get("MediaId", "")
        return _with(inbound, photos=(media_id,)) if is_file_id(media_id) else _with(inbound, unsupported="photo")
    if kind == "location":
        return _with(inbound, location=coordinates(message.get("Location_X"), message.get("Location_Y")))
    if kind == "voice" and message.get("Recognition"):  # speech recognition is switched on
        return _with(inbound, text=message["Recognition"], spoken=True)
    if kind == "event":
        if event.lower() == "subscribe":  # a new follower gets the welcome
            return _with(inbound, text="/start")
        if event.lower() == "click" and (command := COMMANDS.get(message.get("EventKey", ""))):
            return _with(inbound, text=command)  # a tap on the menu: as if typed
        return None  # unsubscribe (wechat.py), menu links, scans, location reports: nothing to say
    return _with(inbound, unsupported={"shortvideo": "video"}.get(kind, kind or "other"))


def _with(inbound: Inbound, **values: Any) -> Inbound:
    return replace(inbound, **values)


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

