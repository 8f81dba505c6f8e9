"""A small, strict fake of the Telegram Bot API, for tests.

(One file of 1,100 lines on purpose: it is one server, whose state - chats, members, messages,
updates - every method reads and changes; the checks Telegram makes are next to the methods
that make them. The tests, the crash test and bench/e2e import it as one thing.)

It runs an aiohttp server on 127.0.0.1 (random port) and answers `/bot<token>/<method>` with
JSON, form-encoded or multipart bodies, as python-telegram-bot sends them. It refuses what
real Telegram refuses, with Telegram's error format, so a message Telegram would reject fails
in a test rather than in front of a resident:

- text of 1..4096 characters after entity parsing (leading/trailing whitespace stripped);
- parse_mode HTML with only Telegram's tags (b, strong, i, em, u, ins, s, strike, del,
  span class="tg-spoiler", tg-spoiler, a href, code, pre, blockquote, tg-emoji), properly
  nested and closed, and every `<` and `&` that is not markup escaped. (Telegram's documentation
  demands the escaping; the real parser shows a stray `&` literally, this fake refuses it);
- inline keyboards: an array of arrays of buttons, each with non-empty text and exactly one
  action; callback_data of 1..64 bytes; at most 100 buttons;
- a chat_id, of a chat the fake knows (a user's private chat becomes known when an update
  from that user is pushed; add others, e.g. a staff group, with `add_chat`); a user who
  blocked the bot (`block`) gets nothing: 403 "Forbidden: bot was blocked by the user";
- sendDocument: an upload (kept in `server.sent[i].document` as (file name, bytes)), a caption
- sendPhoto: a photo file id the fake issued (`push_photo`) or an upload; a caption of at most
  1024 characters after entity parsing;
- message_thread_id only in a forum supergroup (`add_chat(..., is_forum=True)`), into a topic
  that exists: a deleted one (`delete_topic`) answers "message thread not found", a closed one
  "TOPIC_CLOSED"; a message replying to one in a topic lands in that topic;
- reply_parameters / reply_to_message_id: the message must exist in that chat, unless
  allow_sending_without_reply;
- getChat (type, is_forum), getChatMember (`add_member`; anyone else is "left"),
  createForumTopic (forum supergroups only; name of 1..128 characters; refused when the bot
  is a member without admin rights there).

Usage::

    async with FakeBotApi() as server:
        app = ApplicationBuilder().token(server.token).base_url(server.base_url)...
        server.push_text(42, "/start")
        [welcome] = await server.wait_for_messages(42, 1)

`server.sent` lists every message accepted by sendMessage and sendPhoto; `server.calls` every
request (with the time it arrived). `server.fail_next("sendMessage", 429, 2, retry_after=1)` makes
the next two sendMessage calls fail like Telegram does (`chat_id=` limits that to the calls for
one chat), and `server.on_request(callback)` lets a test look at the world the moment a request
arrives. Whatever sends to a chat before the retry_after of a 429 for it has passed is listed in
`server.too_early`; `server.flood_control()` also refuses it, as Telegram does (429, the wait
made longer), and refuses a message to a private chat sooner than a second after the last one;
`server.telegram_limits()` adds the bot's overall limit (30 messages a second), as a bucket of
30 refilled at 30 a second: what comes when it is empty gets 429 with retry_after (counted in
`server.over_limit`).
"""
from __future__ import annotations

import asyncio
import html
import itertools
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_TOPIC_NAME = 128
TOPIC_ICON_COLORS = {7322096, 16766590, 13338331, 9367192, 16749490, 16478047}
MAX_CALLBACK_DATA = 64
MAX_BUTTONS = 100


class BotApiError(Exception):
    """An error answer of the Bot API: {"ok": false, "error_code": ..., "description": ...}."""

    def __init__(self, description: str, status: int = 400, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.parameters = parameters


def bad_request(message: str) -> BotApiError:
    return BotApiError(f"Bad Request: {message}")


# --------------------------------------------------------------------------------------------
# HTML, the way Telegram parses it
# --------------------------------------------------------------------------------------------

_ALLOWED_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9A-Fa-f]{1,6})|([A-Za-z][A-Za-z0-9]*));")
_START_TAG = re.compile(
    r"<([A-Za-z][A-Za-z0-9-]*)"
    r"((?:\s+[A-Za-z][A-Za-z0-9_-]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)\s*>"
)
_ATTRIBUTE = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")
_END_TAG = re.compile(r"</([A-Za-z][A-Za-z0-9-]*)\s*>")
_TAG_NAME = re.compile(r"<([A-Za-z0-9-]*)")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (plain text, entities); raise BotApiError like Telegram does."""

    def fail(reason: str) -> BotApiError:
        return bad_request(f"can't parse entities: {reason}")

    def byte_offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    plain: list[str] = []
    offset16 = 0  # UTF-16 length of `plain`
    stack: list[tuple[str, dict[str, str], int]] = []  # (tag, attributes, entity start)
    entities: list[dict[str, Any]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "&":
            match = _ENTITY.match(text, i)
            decoded = _decode_entity(match) if match else None
            if decoded is None:
                raise fail(
                    f"Character '&' is reserved and must be escaped as &amp; (byte offset {byte_offset(i)})"
                    if match is None
                    else f"Unsupported HTML entity {match.group(0)!r} at byte offset {byte_offset(i)}"
                )
            plain.append(decoded)
            offset16 += _utf16_len(decoded)
            i = match.end()  # type: ignore[union-attr]
        elif char == "<" and text.startswith("</", i):
            match = _END_TAG.match(text, i)
            if match is None:
                raise fail(f"Unclosed end tag at byte offset {byte_offset(i)}")
            name = match.group(1).lower()
            if not stack:
                raise fail(f"Unexpected end tag at byte offset {byte_offset(i)}")
            open_name, attributes, start = stack.pop()
            if name != open_name:
                raise fail(
                    f'Unmatched end tag at byte offset {byte_offset(i)}, expected "</{open_name}>", found "</{name}>"'
                )
            entity = _entity(open_name, attributes, start, offset16)
            if entity is not None:
                entities.append(entity)
            i = match.end()
        elif char == "<":
            match = _START_TAG.match(text, i)
            name = (match.group(1) if match else _TAG_NAME.match(text, i).group(1)).lower()  # type: ignore[union-attr]
            if name not in _ALLOWED_TAGS:
                raise fail(f'Unsupported start tag "{name}" at byte offset {byte_offset(i)}')
            if match is None:
                raise fail(f"Unclosed start tag at byte offset {byte_offset(i)}")
            attributes = {
                key.lower(): html.unescape(value.strip("\"'")) if value else ""
                for key, value in _ATTRIBUTE.findall(match.group(2))
            }
            if name == "span" and attributes.get("class") != "tg-spoiler":
                raise fail(f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(i)}')
            if name == "tg-emoji" and not attributes.get("emoji-id", "").isdigit():
                raise fail(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {byte_offset(i)}')
            stack.append((name, attributes, offset16))
            i = match.end()
        else:
            plain.append(char)
            offset16 += _utf16_len(char)
            i += 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(plain), sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def _decode_entity(match: re.Match[str]) -> str | None:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _NAMED_ENTITIES.get(name)
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _entity(tag: str, attributes: dict[str, str], start: int, end: int) -> dict[str, Any] | None:
    if end <= start:
        return None
    kind = _ALLOWED_TAGS[tag]
    entity: dict[str, Any] = {"type": kind, "offset": start, "length": end - start}
    if kind == "text_link":
        if not attributes.get("href"):
            return None
        entity["url"] = attributes["href"]
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = attributes["emoji-id"]
    elif kind == "blockquote" and "expandable" in attributes:
        entity["type"] = "expandable_blockquote"
    elif kind == "code" and attributes.get("class", "").startswith("language-"):
        entity["type"] = "pre"
        entity["language"] = attributes["class"].removeprefix("language-")
    return entity


def _strip_entities(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram strips leading and trailing whitespace; move the entities with the text."""
    stripped = text.strip()
    lead = _utf16_len(text[: len(text) - len(text.lstrip())])
    total = _utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def check_message_text(text: Any, parse_mode: Any) -> tuple[str, list[dict[str, Any]]]:
    """Validate a message text as sendMessage does; return the text users see and its entities."""
    if text is None or (isinstance(text, str) and not text.strip()):
        raise bad_request("message text is empty")
    plain, entities = _parse_text(text, parse_mode)
    if not plain:
        raise bad_request("message text is empty")
    if len(plain) > MAX_TEXT:
        raise bad_request("message is too long")
    return plain, entities


def check_caption(caption: Any, parse_mode: Any) -> tuple[str, list[dict[str, Any]]]:
    """Validate a media caption (optional; at most 1024 characters after entity parsing)."""
    if caption is None or (isinstance(caption, str) and not caption.strip()):
        return "", []
    plain, entities = _parse_text(caption, parse_mode)
    if len(plain) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    return plain, entities


def _parse_text(text: Any, parse_mode: Any) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(text, str):
        text = json.dumps(text) if not isinstance(text, (int, float)) else str(text)
    mode = (parse_mode or "").lower() if isinstance(parse_mode, str) else parse_mode
    if mode in ("", None):
        plain, entities = text, []
    elif mode == "html":
        plain, entities = parse_html(text)
    elif mode in ("markdown", "markdownv2"):
        raise bad_request(f"the fake Bot API parses only HTML, not parse_mode {parse_mode!r}")
    else:
        raise bad_request(f"unsupported parse_mode {parse_mode!r}")
    return _strip_entities(plain, entities)


# --------------------------------------------------------------------------------------------
# Keyboards and commands
# --------------------------------------------------------------------------------------------

_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def check_reply_markup(markup: Any) -> dict[str, Any] | None:
    """Validate reply_markup; return it (as a dict) or None when absent."""
    if markup is None or markup == "":
        return None
    if isinstance(markup, str):
        try:
            markup = json.loads(markup)
        except ValueError:
            raise bad_request("can't parse reply keyboard markup JSON object") from None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup["inline_keyboard"])
    elif "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays')
        for row in rows:
            for button in row:
                label = button.get("text") if isinstance(button, dict) else button
                if not isinstance(label, str) or not label.strip():
                    raise bad_request("can't parse keyboard button: Text must be non-empty")
    elif not ("remove_keyboard" in markup or "force_reply" in markup):
        raise bad_request("can't find field \"inline_keyboard\"")
    return markup


def _check_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise bad_request("reply markup is too long")
    for row in rows:
        for button in row:
            if not isinstance(button, dict):
                raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            label = button.get("text")
            if not isinstance(label, str):
                raise bad_request("can't parse inline keyboard button: Field \"text\" must be of type String")
            if not label.strip():
                raise bad_request("can't parse inline keyboard button: Text must be non-empty")
            actions = [key for key in _BUTTON_ACTIONS if key in button]
            if not actions:
                raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
            if len(actions) > 1:
                raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must have exactly one action")
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not re.match(r"^(https?|tg)://\S+$", url):
                    raise bad_request("BUTTON_URL_INVALID")


_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")


def check_commands(commands: Any) -> list[dict[str, str]]:
    if isinstance(commands, str):
        try:
            commands = json.loads(commands)
        except ValueError:
            raise bad_request("can't parse commands JSON object") from None
    if not isinstance(commands, list):
        raise bad_request('field "commands" must be an Array')
    if len(commands) > 100:
        raise bad_request("too many commands")
    for command in commands:
        if not isinstance(command, dict) or not _COMMAND.match(str(command.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        description = command.get("description")
        if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
            raise bad_request("command description must be 1-256 characters")
    return commands


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


@dataclass
class SentMessage:
    """One message the bot sent (or its current state after edits)."""

    chat_id: int | str
    message_id: int
    text: str  # as the bot sent it (HTML source when parse_mode is HTML)
    reply_markup: dict[str, Any] | None
    parse_mode: str | None
    plain_text: str  # what the user sees (a photo's caption, "" without one)
    entities: list[dict[str, Any]] = field(default_factory=list)
    photo: str | None = None  # the file id, for sendPhoto
    document: tuple[str, bytes] | None = None  # (file name, content), for sendDocument
    thread_id: int | None = None  # the forum topic it went into
    reply_to: int | None = None  # the message it replies to

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        """The inline keyboard rows ([] when there is none)."""
        return (self.reply_markup or {}).get("inline_keyboard", [])

    def callback_data(self) -> list[str]:
        """Every callback_data of the inline keyboard, row by row."""
        return [b["callback_data"] for row in self.buttons for b in row if "callback_data" in b]


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    at: float = 0.0  # time.monotonic() when it arrived


# Methods that put something into the chat named by their chat_id (flood control counts them).
_CHAT_METHODS = ("send", "copy", "forward", "createforumtopic")


# Parameters that arrive JSON-encoded in form bodies, and parameters that are integers.
_JSON_PARAMS = {
    "reply_markup",
    "commands",
    "scope",
    "entities",
    "caption_entities",
    "link_preview_options",
    "reply_parameters",
    "allowed_updates",
}
_INT_PARAMS = {"offset", "limit", "timeout", "message_id", "cache_time", "message_thread_id", "reply_to_message_id",
               "user_id", "icon_color"}
_BOOL_PARAMS = {"drop_pending_updates", "show_alert", "disable_notification", "protect_content",
                "allow_sending_without_reply"}


class FakeBotApi:
    """The fake Bot API server; use as `async with FakeBotApi() as server:`."""

    def __init__(self, token: str = "123456:TEST-token_for-the-fake-api", *, strict_chats: bool = True) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.strict_chats = strict_chats
        self.sent: list[SentMessage] = []
        self.edits: list[SentMessage] = []
        self.calls: list[Call] = []
        self.answered_callbacks: list[dict[str, Any]] = []
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.chats: dict[int | str, dict[str, Any]] = {}
        self.messages: dict[tuple[int | str, int], dict[str, Any]] = {}  # (chat_id, message_id) -> Message
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int | str, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._failures: dict[str, list[tuple[int, int | None, int | str | None]]] = {}
        self.too_early: list[Call] = []  # requests to a chat before its retry_after was over
        self._banned: dict[str, float] = {}  # chat id -> monotonic time its 429's retry_after is over
        self._last_message: dict[str, float] = {}  # chat id -> when a message to it was last accepted
        self._flood_interval: float | None = None  # flood control: seconds between messages to a private chat
        self._overall: tuple[float, float] | None = None  # the overall limit: (messages a second, bucket size)
        self._bucket = (0.0, 0.0)  # (messages the bucket holds, monotonic time it was last filled)
        self.over_limit = 0  # requests refused for the overall limit
        self.members: dict[int | str, dict[int, dict[str, Any]]] = {}  # chat -> user -> ChatMember
        self.topics: dict[int | str, dict[int, dict[str, Any]]] = {}  # chat -> thread id -> {"name", "state"}
        self.blocked: set[int | str] = set()  # users who blocked the bot
        self.files: set[str] = set()  # file ids the fake issued
        self._hooks: list[Callable[[str, dict[str, Any]], None]] = []
        self._read: dict[int | str, int] = {}  # how many messages of a chat wait_for_messages returned
        self._changed = asyncio.Event()  # set (and replaced) whenever updates or messages arrive
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # -- life cycle ------------------------------------------------------------------------

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self._closing = True
        self._notify()  # wake long polls so the server can stop at once
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """For ApplicationBuilder.base_url / Bot(base_url=...): PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def url(self) -> str:
        """The full method URL prefix, token included: f"{server.url}/sendMessage"."""
        return f"{self.base_url}{self.token}"

    # -- what tests feed in ----------------------------------------------------------------

    def add_chat(self, chat_id: int, chat_type: str = "supergroup", title: str = "Test group", is_forum: bool = False) -> None:
        """Make a chat known (a user's private chat is added when they send something).
        `is_forum`: a supergroup with topics."""
        if chat_type == "private":
            self.chats[chat_id] = {"id": chat_id, "type": "private", "first_name": f"Resident {chat_id}"}
        else:
            self.chats[chat_id] = {"id": chat_id, "type": chat_type, "title": title}
            if is_forum:
                if chat_type != "supergroup":
                    raise ValueError("only a supergroup can be a forum")
                self.chats[chat_id]["is_forum"] = True

    def add_member(self, chat_id: int, user_id: int, status: str = "member", is_member: bool = True) -> None:
        """Make `user_id` a member of a group: status creator, administrator, member,
        restricted (`is_member` says whether still in the chat), left or kicked."""
        if status not in ("creator", "administrator", "member", "restricted", "left", "kicked"):
            raise ValueError(f"unknown chat member status {status!r}")
        self.members.setdefault(chat_id, {})[user_id] = {"status": status, "is_member": is_member}

    def block(self, user_id: int) -> None:
        """The user blocked the bot: every message to them is refused with 403."""
        self.blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        self.blocked.discard(user_id)

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """Staff deleted a forum topic: messages into it fail with "message thread not found"."""
        self.topics[chat_id][thread_id]["state"] = "deleted"

    def close_topic(self, chat_id: int, thread_id: int) -> None:
        """Staff closed a forum topic: messages into it fail with "TOPIC_CLOSED"."""
        self.topics[chat_id][thread_id]["state"] = "closed"

    def delete_message(self, chat_id: int, message_id: int) -> None:
        self.messages.pop((chat_id, message_id), None)

    def on_request(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Call `callback(method, params)` when a request arrives, before it is answered."""
        self._hooks.append(callback)

    def user(self, user_id: int, language_code: str | None = "zh-hans") -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"Resident {user_id}"}
        if language_code:
            user["language_code"] = language_code
        return user

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue any update; an update_id is assigned when missing. Returns the update."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        self._updates.append(update)
        self._notify()
        return update

    def push_message(
        self,
        user_id: int,
        *,
        chat_id: int | None = None,
        language_code: str | None = "zh-hans",
        **content: Any,
    ) -> dict[str, Any]:
        """Queue a message from a user (in their private chat unless chat_id names a known group).

        `content` is the rest of the Message object: text=..., sticker={...}, caption=...
        """
        chat_id = user_id if chat_id is None else chat_id
        if chat_id == user_id and chat_id not in self.chats:
            self.add_chat(user_id, "private")
        chat = self.chats.get(chat_id) or {"id": chat_id, "type": "supergroup", "title": "Test group"}
        message = {
            "message_id": self._next_message_id(chat_id),
            "from": self.user(user_id, language_code),
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        self.messages[(chat_id, message["message_id"])] = message
        return self.push_update({"message": message})

    def push_text(self, user_id: int, text: str, language_code: str | None = "zh-hans", **kwargs: Any) -> dict[str, Any]:
        """Queue a text message (a /command gets its bot_command entity, as Telegram sends it)."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]
        return self.push_message(user_id, language_code=language_code, **content, **kwargs)

    def push_group_text(
        self, chat_id: int, user_id: int, text: str, reply_to: int | None = None, thread_id: int | None = None
    ) -> dict[str, Any]:
        """Queue a text from `user_id` in a known group: replying to message `reply_to`, or in
        the forum topic `thread_id` (as Telegram does, a reply to a message in a topic is in
        that topic, and a topic message that replies to nothing replies to the topic's start)."""
        chat = self.chats[chat_id]
        if chat["type"] == "private":
            raise ValueError(f"chat {chat_id} is not a group")
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]
        replied = None
        if reply_to is not None:
            replied = self.messages[(chat_id, reply_to)]  # KeyError: no such message to reply to
            thread_id = thread_id or (replied.get("message_thread_id") if replied.get("is_topic_message") else None)
        if thread_id is not None:
            if thread_id not in self.topics.get(chat_id, {}):
                raise KeyError(f"no topic {thread_id} in chat {chat_id}")
            replied = replied or self.messages.get((chat_id, thread_id))
            content.update(message_thread_id=thread_id, is_topic_message=True)
        if replied is not None:
            content["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        return self.push_message(user_id, chat_id=chat_id, **content)

    def file_content(self, file_id: str) -> bytes:
        """What downloading a file the fake issued gives: a JPEG's first bytes and its id, so a
        test can tell which file it got."""
        return b"\xff\xd8\xff\xe0fake JPEG of " + file_id.encode()

    async def _file(self, request: web.Request) -> web.Response:
        """The file download of the Bot API server: /file/bot<token>/<file_path from getFile>."""
        self.calls.append(Call("file", {"path": request.match_info["path"]}, 200, time.monotonic()))
        file_id = request.match_info["path"].removeprefix("photos/").removesuffix(".jpg")
        if request.match_info["token"] != self.token or file_id not in self.files:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=self.file_content(file_id), content_type="image/jpeg")

    async def _api_getfile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id", ""))
        if file_id not in self.files:
            raise BotApiError("Bad Request: invalid file_id")
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(self.file_content(file_id)),
                "file_path": f"photos/{file_id}.jpg"}

    def push_photo(self, user_id: int, file_id: str, caption: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Queue a photo from a user, in two sizes; `file_id` is the largest (the small one is
        f"{file_id}-small"). Both become file ids the fake knows."""
        sizes = [(f"{file_id}-small", 90, 68, 1_200), (file_id, 1280, 960, 95_000)]
        self.files.update(size[0] for size in sizes)
        photo = [{"file_id": f, "file_unique_id": f"u-{f}", "width": w, "height": h, "file_size": n} for f, w, h, n in sizes]
        content: dict[str, Any] = {"photo": photo}
        if caption:
            content["caption"] = caption
        return self.push_message(user_id, **content, **kwargs)

    def push_location(self, user_id: int, latitude: float, longitude: float, **kwargs: Any) -> dict[str, Any]:
        """Queue a location pin from a user."""
        return self.push_message(user_id, location={"latitude": latitude, "longitude": longitude}, **kwargs)

    def push_callback(
        self, user_id: int, data: str, message_id: int, language_code: str | None = "zh-hans", chat_id: int | None = None
    ) -> dict[str, Any]:
        """Queue a button press on the bot's message `message_id` in the user's chat."""
        chat_id = user_id if chat_id is None else chat_id
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise KeyError(f"no message {message_id} in chat {chat_id} to press a button on")
        query_id = str(next(self._callback_ids))
        query = {
            "id": query_id,
            "from": self.user(user_id, language_code),
            "message": message,
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        self._callbacks[query_id] = {"query": query, "answered": False}
        return self.push_update({"callback_query": query})

    def flood_control(self, interval: float = 1.0) -> None:
        """Refuse like Telegram: a message to a private chat sooner than `interval` seconds after
        the last one, and anything to a chat whose retry_after is not over (the wait made longer)."""
        self._flood_interval = interval

    def telegram_limits(self, per_second: float = 30.0, burst: float = 30.0, interval: float = 1.0) -> None:
        """Flood control (one message a second per private chat) and the bot's overall limit of
        `per_second` messages, bursts of at most `burst`."""
        self.flood_control(interval)
        self._overall = (per_second, burst)
        self._bucket = (burst, time.monotonic())

    def fail_next(
        self, method: str, status: int, count: int = 1, retry_after: int | None = None, chat_id: int | str | None = None
    ) -> None:
        """Make the next `count` calls of `method` (for `chat_id`, when given) fail with `status`
        (429 carries retry_after)."""
        self._failures.setdefault(method.lower(), []).extend([(status, retry_after, chat_id)] * count)

    # -- what tests look at ----------------------------------------------------------------

    def messages_to(self, chat_id: int | str) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    def unread(self, chat_id: int | str) -> list[SentMessage]:
        """The messages to `chat_id` that no wait_for_messages returned yet: after the event that
        proves the bot is done (its inbox empty, its outbox sent), what it sent beyond the expected."""
        return self.messages_to(chat_id)[self._read.get(chat_id, 0):]

    async def wait_for_messages(self, chat_id: int | str, n: int, timeout: float = 5) -> list[SentMessage]:
        """Wait for the next `n` messages to `chat_id` and return them.

        "Next" means not returned by an earlier call, so a test reads like a conversation:
        push something, wait for the reply, push the next thing. Extra messages stay for
        the next call. Raises AssertionError with what did arrive on timeout.
        """
        start = self._read.get(chat_id, 0)
        if not await self._wait_until(lambda: len(self.messages_to(chat_id)) >= start + n, timeout):
            got = [m.plain_text[:80] for m in self.messages_to(chat_id)[start:]]
            failed = [(c.method, c.status) for c in self.calls if c.status != 200]
            raise AssertionError(
                f"expected {n} message(s) to chat {chat_id} within {timeout}s, got {len(got)}: {got}; "
                f"failed calls: {failed}"
            ) from None
        self._read[chat_id] = start + n
        return self.messages_to(chat_id)[start : start + n]

    # -- HTTP ------------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, predicate: Any, timeout: float) -> bool:
        """Wait until predicate() is true or `timeout` seconds passed; return predicate()."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return bool(predicate())
        return True

    def _next_message_id(self, chat_id: int | str) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        arrived = time.monotonic()
        try:
            if request.match_info["token"] != self.token:
                raise BotApiError("Unauthorized", 401)
            params = await _read_params(request)
            for hook in self._hooks:
                hook(method, params)
            self._flood_check(method, params, arrived)
            self._maybe_fail(method, params)
            handler = getattr(self, f"_api_{method.lower()}", None)
            if handler is None:
                raise BotApiError("Not Found", 404)
            result = await handler(params)
        except BotApiError as error:
            self.calls.append(Call(method, params, error.status, arrived))
            if error.status == 429 and method.lower().startswith(_CHAT_METHODS) and params.get("chat_id") is not None:
                chat = str(params["chat_id"])
                self._banned[chat] = max(self._banned.get(chat, 0.0), time.monotonic() + error.parameters["retry_after"])
            body: dict[str, Any] = {"ok": False, "error_code": error.status, "description": error.description}
            if error.parameters:
                body["parameters"] = error.parameters
            return web.json_response(body, status=error.status)
        except ConnectionResetError:  # the client gave up on the request (PTB stopping its long poll): no call
            return web.Response(status=499)
        except Exception as error:  # a bug in the fake: say so loudly
            log.exception("fake Bot API failed on %s", method)
            self.calls.append(Call(method, params, 500, arrived))
            body = {"ok": False, "error_code": 500, "description": f"Internal Server Error: fake Bot API bug: {error!r}"}
            return web.json_response(body, status=500)
        self.calls.append(Call(method, params, 200, arrived))
        if method.lower().startswith(_CHAT_METHODS) and params.get("chat_id") is not None:
            self._last_message[str(params["chat_id"])] = arrived
        return web.json_response({"ok": True, "result": result})

    def _flood_check(self, method: str, params: dict[str, Any], arrived: float) -> None:
        """Note a request to a chat whose retry_after is not over; under flood control, refuse
        it (and one that comes too soon after the last message to a private chat)."""
        chat = params.get("chat_id")
        if chat is None or not method.lower().startswith(_CHAT_METHODS):
            return
        chat = str(chat)
        left = self._banned.get(chat, 0.0) - arrived
        if left > 0:
            self.too_early.append(Call(method, params, 429, arrived))
        if self._flood_interval is None:
            return
        if left > 0:  # Telegram makes the wait longer for those who do not wait
            raise _too_many(int(left) + 2)
        last = self._last_message.get(chat)
        if chat.lstrip("-").isdigit() and int(chat) > 0 and last is not None and arrived - last < self._flood_interval:
            raise _too_many(1)
        if self._overall is not None:
            rate, size = self._overall
            held, filled = self._bucket
            held = min(size, held + (arrived - filled) * rate)
            if held < 1.0:
                self._bucket = (held, arrived)
                self.over_limit += 1
                raise _too_many(1)
            self._bucket = (held - 1.0, arrived)

    def _maybe_fail(self, method: str, params: dict[str, Any]) -> None:
        queue = self._failures.get(method.lower())
        if not queue:
            return
        chat = params.get("chat_id")
        matching = [i for i, (_, _, only_chat) in enumerate(queue) if only_chat is None or str(only_chat) == str(chat)]
        if not matching:
            return
        status, retry_after, _ = queue.pop(matching[0])
        if status == 429:
            raise _too_many(1 if retry_after is None else retry_after)
        descriptions = {
            400: "Bad Request: injected failure",
            401: "Unauthorized",
            403: "Forbidden: bot was blocked by the user",
            404: "Not Found",
            409: "Conflict: terminated by other getUpdates request",
            500: "Internal Server Error",
            502: "Bad Gateway",
        }
        raise BotApiError(descriptions.get(status, f"Error {status}"), status)

    def _chat_id(self, params: dict[str, Any], name: str = "chat_id") -> int | str:
        raw = params.get(name)
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        if isinstance(raw, bool):
            raise bad_request("chat not found")
        try:
            chat_id: int | str = int(raw)
        except (TypeError, ValueError):
            if not (isinstance(raw, str) and raw.startswith("@")):
                raise bad_request("chat not found") from None
            chat_id = raw
        if self.strict_chats and chat_id not in self.chats:
            raise bad_request("chat not found")
        return chat_id

    def _chat(self, chat_id: int | str) -> dict[str, Any]:
        return self.chats.get(chat_id) or {"id": chat_id, "type": "private", "first_name": "Someone"}

    def _me(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Tangqiao Test Bot",
            "username": "tangqiao_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    # -- methods ---------------------------------------------------------------------------

    async def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._me()

    async def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = params.get("offset") or 0
        limit = params.get("limit") or 100
        timeout = params.get("timeout") or 0
        if not 1 <= limit <= 100:
            limit = 100
        if offset > 0:  # confirm everything before offset
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if timeout > 0:
            await self._wait_until(lambda: bool(self._updates) or self._closing, timeout)
        return self._updates[:limit]

    async def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._recipient(params)
        plain, entities = check_message_text(params.get("text"), params.get("parse_mode"))
        markup = check_reply_markup(params.get("reply_markup"))
        thread_id, replied = self._placement(chat_id, params)
        message = self._new_message(chat_id, thread_id, replied)
        message["text"] = plain
        if entities:
            message["entities"] = entities
        return self._record(message, params["text"], markup, params.get("parse_mode"), plain, entities)

    async def _api_sendphoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._recipient(params)
        photo = params.get("photo")
        if photo is None or photo == "":
            raise bad_request("there is no photo in the request")
        if isinstance(photo, str):
            if photo not in self.files:
                raise bad_request("wrong file identifier/HTTP URL specified")
            file_id = photo
        else:  # an upload
            file_id = f"upload-{len(self.files) + 1}"
            self.files.add(file_id)
        plain, entities = check_caption(params.get("caption"), params.get("parse_mode"))
        markup = check_reply_markup(params.get("reply_markup"))
        thread_id, replied = self._placement(chat_id, params)
        message = self._new_message(chat_id, thread_id, replied)
        message["photo"] = [{"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 1280, "height": 960}]
        if plain:
            message["caption"] = plain
            if entities:
                message["caption_entities"] = entities
        return self._record(message, params.get("caption") or "", markup, params.get("parse_mode"), plain, entities,
                            photo=file_id)

    async def _api_senddocument(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._recipient(params)
        upload = params.get("document")
        if upload is None or isinstance(upload, str):
            raise bad_request("there is no document in the request")  # file ids of documents are not faked
        content = upload.file.read()
        if not content:
            raise bad_request("file must be non-empty")
        plain, entities = check_caption(params.get("caption"), params.get("parse_mode"))
        thread_id, replied = self._placement(chat_id, params)
        message = self._new_message(chat_id, thread_id, replied)
        message["document"] = {"file_id": f"doc-{len(self.sent) + 1}", "file_unique_id": f"udoc-{len(self.sent) + 1}",
                               "file_name": upload.filename, "file_size": len(content)}
        if plain:
            message["caption"] = plain
        record = self._record(message, params.get("caption") or "", None, params.get("parse_mode"), plain, entities)
        self.sent[-1].document = (upload.filename, content)
        return record

    def _recipient(self, params: dict[str, Any]) -> int | str:
        """The chat a message goes to: known, and not a user who blocked the bot."""
        chat_id = self._chat_id(params)
        if chat_id in self.blocked:
            raise BotApiError("Forbidden: bot was blocked by the user", 403)
        return chat_id

    def _placement(self, chat_id: int | str, params: dict[str, Any]) -> tuple[int | None, dict[str, Any] | None]:
        """The forum topic and the replied-to message of a new message, checked like Telegram does."""
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id"):
            reply = {"message_id": params["reply_to_message_id"],
                     "allow_sending_without_reply": params.get("allow_sending_without_reply", False)}
        replied = None
        if reply is not None:
            if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
                raise bad_request("can't parse reply parameters JSON object")
            if reply.get("chat_id") not in (None, chat_id, str(chat_id)):
                raise bad_request("the fake Bot API replies only within the same chat")
            replied = self.messages.get((chat_id, reply["message_id"]))
            if replied is None and not reply.get("allow_sending_without_reply"):
                raise bad_request("message to be replied not found")
        thread_id = params.get("message_thread_id") or None
        if thread_id is None and replied is not None and replied.get("is_topic_message"):
            thread_id = replied["message_thread_id"]  # a reply lands in the topic of what it replies to
        if thread_id is not None:
            if not self._chat(chat_id).get("is_forum"):
                raise bad_request("message thread not found")
            topic = self.topics.get(chat_id, {}).get(thread_id)
            if topic is None or topic["state"] == "deleted":
                raise bad_request("message thread not found")
            if topic["state"] == "closed":
                raise bad_request("TOPIC_CLOSED")
            replied = replied or self.messages.get((chat_id, thread_id))  # the topic's start
        return thread_id, replied

    def _new_message(self, chat_id: int | str, thread_id: int | None, replied: dict[str, Any] | None) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": self._me(),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        if thread_id is not None:
            message.update(message_thread_id=thread_id, is_topic_message=True)
        if replied is not None:
            message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        return message

    def _record(self, message: dict[str, Any], source: str, markup: dict[str, Any] | None, parse_mode: str | None,
                plain: str, entities: list[dict[str, Any]], photo: str | None = None) -> dict[str, Any]:
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        chat_id = message["chat"]["id"]
        self.messages[(chat_id, message["message_id"])] = message
        replied = message.get("reply_to_message")
        self.sent.append(SentMessage(
            chat_id, message["message_id"], source, markup, parse_mode, plain, entities, photo=photo,
            thread_id=message.get("message_thread_id"), reply_to=replied["message_id"] if replied else None,
        ))
        self._notify()
        return message

    async def _api_getchat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        if chat_id not in self.chats:
            raise bad_request("chat not found")
        gifts = {"unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                 "premium_subscription": False, "gifts_from_channels": False}
        return {**self.chats[chat_id], "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    async def _api_getchatmember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        user_id = params.get("user_id")
        if not isinstance(user_id, int) or user_id <= 0:
            raise bad_request("invalid user_id specified")
        if self._chat(chat_id)["type"] == "private":
            raise bad_request("chat member status can't be requested in private chats")
        member = self.members.get(chat_id, {}).get(user_id, {"status": "left", "is_member": False})
        return _chat_member(self.user(user_id, None) if user_id != self.bot_id else self._me(), member)

    async def _api_createforumtopic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        chat = self._chat(chat_id)
        if chat["type"] != "supergroup" or not chat.get("is_forum"):
            raise bad_request("the chat is not a forum")
        bot = self.members.get(chat_id, {}).get(self.bot_id)
        if bot is not None and bot["status"] not in ("creator", "administrator"):
            raise bad_request("not enough rights to create a topic")
        name = params.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_TOPIC_NAME:
            raise bad_request("TOPIC_NAME_INVALID")
        color = params.get("icon_color") or 7322096
        if color not in TOPIC_ICON_COLORS:
            raise bad_request("TOPIC_ICON_COLOR_INVALID")
        thread_id = self._next_message_id(chat_id)
        self.topics.setdefault(chat_id, {})[thread_id] = {"name": name, "state": "open"}
        self.messages[(chat_id, thread_id)] = {  # the service message that starts the topic
            "message_id": thread_id, "from": self._me(), "chat": chat, "date": int(time.time()),
            "message_thread_id": thread_id, "is_topic_message": True,
            "forum_topic_created": {"name": name, "icon_color": color},
        }
        return {"message_thread_id": thread_id, "name": name, "icon_color": color}

    async def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        state = self._callbacks.get(query_id)
        if state is None or state["answered"]:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        state["answered"] = True
        self.answered_callbacks.append({"callback_query_id": query_id, **params})
        return True

    async def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = check_commands(params.get("commands"))
        scope = params.get("scope") or {"type": "default"}
        key = f"{scope.get('type', 'default')}:{params.get('language_code') or ''}"
        self.commands[key] = commands
        return True

    async def _api_getmycommands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        scope = params.get("scope") or {"type": "default"}
        return self.commands.get(f"{scope.get('type', 'default')}:{params.get('language_code') or ''}", [])

    def _message_to_edit(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("inline_message_id"):
            raise bad_request("the fake Bot API does not support inline messages")
        chat_id = self._chat_id(params)
        message_id = params.get("message_id")
        if not message_id:
            raise bad_request("message identifier is not specified")
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"].get("id") != self.bot_id:
            raise bad_request("message can't be edited")
        return message

    def _record_edit(self, message: dict[str, Any], source_text: str, parse_mode: str | None) -> None:
        edited = SentMessage(
            message["chat"]["id"],
            message["message_id"],
            source_text,
            message.get("reply_markup"),
            parse_mode,
            message["text"],
            message.get("entities", []),
        )
        self.edits.append(edited)
        for i, sent in enumerate(self.sent):
            if (sent.chat_id, sent.message_id) == (edited.chat_id, edited.message_id):
                self.sent[i] = edited

    async def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._message_to_edit(params)
        plain, entities = check_message_text(params.get("text"), params.get("parse_mode"))
        markup = check_reply_markup(params.get("reply_markup"))
        if plain == message["text"] and entities == message.get("entities", []) and markup == message.get("reply_markup"):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are exactly the same "
                "as a current content and reply markup of the message"
            )
        message.update(text=plain, edit_date=int(time.time()))
        message.pop("entities", None)
        message.pop("reply_markup", None)
        if entities:
            message["entities"] = entities
        if markup:
            message["reply_markup"] = markup
        self._record_edit(message, params["text"], params.get("parse_mode"))
        return message

    async def _api_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._message_to_edit(params)
        markup = check_reply_markup(params.get("reply_markup"))
        if markup == message.get("reply_markup"):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are exactly the same "
                "as a current content and reply markup of the message"
            )
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        self._record_edit(message, message["text"], None)
        return message


def _too_many(retry_after: int) -> BotApiError:
    return BotApiError(f"Too Many Requests: retry after {retry_after}", 429, {"retry_after": retry_after})


def _chat_member(user: dict[str, Any], member: dict[str, Any]) -> dict[str, Any]:
    """A ChatMember object with every field its status requires."""
    status = member["status"]
    result: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        result["is_anonymous"] = False
    elif status == "administrator":
        result.update({right: True for right in (
            "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
            "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories", "can_delete_stories",
            "can_pin_messages", "can_manage_topics")})
        result.update(can_be_edited=False, is_anonymous=False, can_promote_members=False)
    elif status == "restricted":
        result.update({right: False for right in (
            "can_change_info", "can_invite_users", "can_pin_messages", "can_send_messages", "can_send_polls",
            "can_send_other_messages", "can_add_web_page_previews", "can_manage_topics", "can_send_audios",
            "can_send_documents", "can_send_photos", "can_send_videos", "can_send_video_notes", "can_send_voice_notes",
            "can_edit_tag", "can_react_to_messages")})
        result.update(is_member=member["is_member"], until_date=0)
    elif status == "kicked":
        result["until_date"] = 0
    return result


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Read JSON, form or multipart parameters (and the query string) into typed values."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        params.update(body)
        return params
    if request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            params[key] = value  # a file stays a FileField
    for key in _JSON_PARAMS & params.keys():
        if isinstance(params[key], str) and key != "reply_markup":  # reply_markup is checked later
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                raise bad_request(f"can't parse {key} JSON object") from None
    for key in _INT_PARAMS & params.keys():
        if isinstance(params[key], str):
            try:
                params[key] = int(params[key])
            except ValueError:
                raise bad_request(f"field {key!r} must be a Number") from None
    for key in _BOOL_PARAMS & params.keys():
        if isinstance(params[key], str):
            params[key] = params[key].lower() in ("true", "1")
    return params
