"""WeChat's message format: a callback's XML read into an Inbound, replies written as XML and
plain text cut to WeChat's 2048 bytes.

DTDs, entities and external references are refused (billion laughs, XXE), as is a body over
MAX_BODY bytes.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from aiohttp import web
from defusedxml import DefusedXmlException

from bot.channels.common import split_text
from bot.channels.wechat_crypto import cdata
from bot.photo_files import is_file_id
from handlers.types import Inbound

CHANNEL = "wechat"
MAX_BODY = 64 * 1024  # a callback is a few hundred bytes; anything near this is not WeChat
TEXT_LIMIT = 2048  # bytes of UTF-8 in one text message (passive reply or customer-service message)


class BadMessage(ValueError):
    """A callback body we cannot read: not XML, a DTD or entities, missing fields, bad crypto."""


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
        # The MediaId names the photo; the channel fetches it (or the PicUrl, from WeChat's own
        # image hosts only) once, now, into the console's photos (bot/photo_files.py).
        media_id = message.get("MediaId", "")
        return _with(inbound, photos=(media_id,)) if is_file_id(media_id) else _with(inbound, unsupported="photo")
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

