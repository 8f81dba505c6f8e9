"""The load of `python -m bench e2e` (bench/e2e.py): the fake Bot API as the benchmark runs it,
what the residents say, and the residents themselves (closed loops of questions or complaint
dialogs)."""
from __future__ import annotations

import asyncio
import functools
import json
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from bench.e2e_bots import TOKEN, BenchError

RAMP = 1.0  # residents start at random moments of the first second: no burst of 200 connections
# at once in PTB's httpx pool (a connection pool that large makes every request slower until
# httpx prunes the idle ones after 5 s)
REPLY_TIMEOUT = 30.0  # a resident gives up on a reply after this long (reported; should never happen)
DIALOG_STEPS = 5  # complaint, place, skip photos, skip phone, submit
TICKET_NUMBER = re.compile(r"TQ-\d{4}-\d{4,}")
GREETINGS = [("你好", "zh"), ("您好,在吗", "zh"), ("谢谢", "zh"), ("hello", "en"), ("thanks!", "en")]
OUT_OF_SCOPE = [("今天人民币对美元汇率是多少", "zh"), ("推荐一部好看的电影", "zh"),
                ("What's the weather in Beijing tomorrow?", "en"), ("Who won the football match last night?", "en")]
COMPLAINTS = ["楼道里的路灯坏了一个星期了,晚上黑漆漆的", "小区门口的垃圾好几天没人清运了,臭得要命",
              "楼下的窨井盖松动了,走上去哐当响,很危险", "隔壁装修每天早上七点就开始电钻,吵得没法休息"]
ROADS = ["峨山路", "塘桥路", "蓝村路", "南泉路", "浦东南路", "东方路", "张杨路", "浦建路"]


# --------------------------------------------------------------------------------------------
# The fake Bot API, and what the residents say
# --------------------------------------------------------------------------------------------


@functools.cache
def bench_server_class():
    from tests.fake_bot_api import Call, FakeBotApi, SentMessage

    class RefusedCalls(list):
        """server.calls under load: counts every call, keeps only the refused ones."""

        total = 0

        def append(self, call: Call) -> None:
            self.total += 1
            if call.status != 200:
                super().append(call)

    class BenchBotApi(FakeBotApi):
        """The strict fake Bot API; each accepted message goes to its chat's inbox at once,
        stamped with the time, instead of piling up in `sent`."""

        def __init__(self) -> None:
            super().__init__(TOKEN)
            self.calls = RefusedCalls()
            self.inboxes: dict[int | str, asyncio.Queue[tuple[float, SentMessage]]] = {}
            self.polled = asyncio.Event()  # the bot's first getUpdates: it is ready
            self.on_request(self._on_request)

        def inbox(self, chat_id: int | str) -> asyncio.Queue[tuple[float, SentMessage]]:
            return self.inboxes.setdefault(chat_id, asyncio.Queue())

        def _on_request(self, method: str, params: dict[str, Any]) -> None:
            if method.lower() == "getupdates":
                self.polled.set()

        def _record(self, message: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
            result = super()._record(message, *args, **kwargs)
            sent = self.sent.pop()
            self.inbox(sent.chat_id).put_nowait((time.perf_counter(), sent))
            return result

    return BenchBotApi


@dataclass
class Workload:
    questions: list[tuple[str, str]]  # (text, language)
    mix: dict[str, int]  # reply kind -> how many of the questions get it
    complaints: list[str]
    source: str


async def workload() -> Workload:
    """Questions whose reply is one message and changes nothing (answers, clarifications,
    out-of-scope fallbacks, greetings), and texts the model takes for complaints; both
    sorted offline with the same model the bot uses."""
    from bench.match import DEV_SET
    from bot.startup import build_core
    from handlers.router import answer_text

    services = build_core()
    if DEV_SET.exists():
        rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
        candidates = [(r["q"], r.get("lang") or "zh") for r in rows]
        source = f"{DEV_SET.name} ({len(rows)} questions)"
    else:
        entries = services.content.entries.values()
        candidates = [(q, "zh") for e in entries for q in e.questions.zh] + [(q, "en") for e in entries for q in e.questions.en]
        source = "the content base's sample questions"
    candidates += GREETINGS + OUT_OF_SCOPE
    questions, mix = [], {}
    for text, lang in candidates:
        reply = await answer_text(text, lang, None, services)
        if reply.kind in ("answer", "clarify", "fallback", "greeting") and len(reply.messages) == 1:
            questions.append((text, lang))
            mix[reply.kind] = mix.get(reply.kind, 0) + 1
    def complaint(text: str) -> bool:
        return services.model.understand(text).kind == "complaint"

    complaints = [text for text, _ in candidates if complaint(text)]
    complaints += [t for t in COMPLAINTS if complaint(t) and t not in complaints]
    if not questions or not complaints:
        raise BenchError("no usable questions or complaint texts")
    return Workload(questions, mix, complaints, source)


# --------------------------------------------------------------------------------------------
# The residents
# --------------------------------------------------------------------------------------------


@dataclass
class Window:
    """The measured seconds: residents go on until `end` (unknown until warm-up is over)."""

    start: float = float("inf")
    end: float = float("inf")

    def open(self, seconds: float) -> None:
        self.start = time.perf_counter()
        self.end = self.start + seconds

    def __contains__(self, moment: float) -> bool:
        return self.start <= moment <= self.end


@dataclass
class Tally:
    residents: int
    replies: list[tuple[float, float]] = field(default_factory=list)  # (update queued, reply accepted)
    dialogs: list[tuple[float, float]] = field(default_factory=list)  # (first message queued, ticket number accepted)
    tickets: list[str] = field(default_factory=list)  # every ticket number shown to a resident
    duplicates: int = 0  # of them, reports merged with an open ticket
    timeouts: int = 0
    extra: int = 0  # messages nobody waited for
    failed: list[str] = field(default_factory=list)  # unexpected replies in a dialog (the first words)
    last_ticket: float = 0.0
    warm: asyncio.Event = field(default_factory=asyncio.Event)  # every resident has gone through a dialog's worth of steps
    _steps: dict[int, int] = field(default_factory=dict)  # exchanges per resident
    _warmed: set[int] = field(default_factory=set)  # residents with DIALOG_STEPS exchanges (or who stopped)

    def stepped(self, user: int, stopped: bool = False) -> None:
        self._steps[user] = self._steps.get(user, 0) + (not stopped)
        if (stopped or self._steps[user] >= DIALOG_STEPS) and user not in self._warmed:
            self._warmed.add(user)
            if len(self._warmed) >= self.residents:
                self.warm.set()


class _NoReply(Exception):
    """A reply did not arrive within REPLY_TIMEOUT."""


class _Astray(Exception):
    """A dialog step got a reply other than the expected one."""


async def _exchange(inbox: asyncio.Queue, tally: Tally, push, expect: str | None = None, user: int | None = None):
    """Queue one update (`push()`), wait for its reply; (accepted at, message).

    `expect`: a button the reply must carry."""
    sent = time.perf_counter()
    push()
    try:
        stamp, message = await asyncio.wait_for(inbox.get(), REPLY_TIMEOUT)
    except TimeoutError:
        tally.timeouts += 1
        raise _NoReply from None
    tally.replies.append((sent, stamp))
    if user is not None:
        tally.stepped(user)
    if expect is not None and expect not in message.callback_data():
        raise _Astray(message.plain_text[:60])
    return stamp, message


async def ask_questions(server, user: int, questions: list[tuple[str, str]], window: Window, tally: Tally) -> None:
    """Closed loop: a question, its answer, the next question, until the window closes."""
    rng = random.Random(user)
    inbox = server.inbox(user)
    await asyncio.sleep(rng.random() * RAMP)
    while time.perf_counter() < window.end:
        text, lang = rng.choice(questions)
        try:
            await _exchange(inbox, tally, functools.partial(server.push_text, user, text,
                                                            language_code="en" if lang == "en" else "zh-hans"))
        except _NoReply:
            return
        while not inbox.empty():  # a reply of more than one message: none is expected
            inbox.get_nowait()
            tally.extra += 1


async def file_complaints(server, user: int, complaints: list[str], window: Window, tally: Tally) -> None:
    """Whole dialogs, one after the other: complaint -> where -> photos: skip -> phone: skip
    -> submit -> the ticket number, until the window closes (the dialog under way is dropped).

    Residents start out of step: the first says hello 0 to 4 times (by its number), so that once
    each has gone through five exchanges, as many residents are at each step of a dialog and
    the tickets come out evenly, not in waves."""
    rng = random.Random(user)
    inbox = server.inbox(user)
    await asyncio.sleep(rng.random() * RAMP)
    try:
        for _ in range(user % DIALOG_STEPS):
            await _exchange(inbox, tally, functools.partial(server.push_text, user, "你好"), user=user)
        await _dialogs(server, user, complaints, window, tally, rng, inbox)
    except _NoReply:
        pass  # the bot is not answering: stop rather than pile up
    finally:
        tally.stepped(user, stopped=True)  # (if the resident gave up early, warm-up does not wait for it)


async def _dialogs(server, user: int, complaints: list[str], window: Window, tally: Tally, rng: random.Random,
                   inbox: asyncio.Queue) -> None:
    def say(words: str, expect: str | None = None):
        return _exchange(inbox, tally, functools.partial(server.push_text, user, words), expect, user)

    def press(message, data: str, expect: str | None = None):
        return _exchange(inbox, tally, functools.partial(server.push_callback, user, data, message.message_id), expect, user)

    while time.perf_counter() < window.end:
        started = time.perf_counter()
        place = f"{rng.choice(ROADS)}{rng.randint(1, 999)}弄{rng.randint(1, 60)}号"
        try:
            await say(rng.choice(complaints))  # "where is it?"
            _, photos = await say(place, "ik:skip")  # photos: [skip] [cancel]
            _, phone = await press(photos, "ik:skip", "ik:skip")  # phone: [skip] [cancel]
            _, summary = await press(phone, "ik:skip", "ik:submit")  # the summary: [submit] [edit ...] [cancel]
            done_at, done = await press(summary, "ik:submit")  # the ticket number
            if not (numbers := TICKET_NUMBER.findall(done.plain_text)):
                raise _Astray(done.plain_text[:60])
        except _Astray as astray:
            tally.failed.append(str(astray))
            if len(tally.failed) > 50:
                return
            await say("/cancel")
            continue
        tally.dialogs.append((started, done_at))
        tally.tickets.append(numbers[-1])  # a merged report names the open ticket first, its own last
        tally.duplicates += len(set(numbers)) > 1
        tally.last_ticket = max(tally.last_ticket, done_at)
