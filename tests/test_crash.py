"""The crash test: the bot is killed (SIGKILL) again and again while residents file complaints
and staff answer them; after each restart everything goes on, and in the end nothing was lost,
nothing was doubled and no dialog was left broken.

(One file of 780 lines: the people, the killer and the final checks are one simulation, whose
parts share its state; split, each part would only make sense with the others open.)

The strict fake Bot API (tests/fake_bot_api.py) runs in this process on loopback; the bot runs
as a separate process, `python -m bot run` (this venv's python), polling it, with its own SQLite
file, a moderation supergroup and a staff member in it and in STAFF_IDS. Like Telegram, the fake
hands out an update again until a later getUpdates confirms it (offset): an update the bot
fetched but never confirmed comes back after a restart; one it confirmed is gone.

The people (simulated in this process):
- RESIDENTS residents each file COMPLAINTS reports, the whole dialog (what happened, where,
  skip photos, skip phone, submit), each step answering whatever prompt the bot sent last; the
  last resident gives up on their last report half-way with /cancel;
- the staff member replies to the card of every ticket and waits for the bot's "✅ 已转给";
- as people do, whoever gets no answer sends the same again (the same text, the same button;
  staff give up after STAFF_TRIES replies). "No answer" means QUIET seconds while the bot was
  up: nobody repeats themselves just because the bot is restarting.

The killer: one kill of each kind in KINDS, in a seeded order, spread over the simulation by
its progress, each with a seeded occurrence (k) and delay:
- time:    at a random moment;
- card:    the moment Telegram accepts the bot's k-th ticket card (before the bot hears so);
- reply:   the moment Telegram accepts the k-th staff reply the bot forwards to a resident;
- confirm: while the bot sends the staff the k-th "✅ 已转给": that message is lost with it;
- number:  while the bot sends a resident the k-th ticket number: that message is lost with it;
- update:  a few ms after getUpdates handed the bot the k-th "Submit" press or staff message;
- acked:   the moment the bot's next getUpdates confirms (offset) the k-th "Submit" press or
           staff message to Telegram, which so forgets it: the bot must have stored it, and
           handles it after the restart (nobody has to send it again).
After each kill, with the bot down, what was committed must be whole: valid intake rows, every
ticket with its card in the outbox, every staff reply event with its outbox message, every
number shown to a resident stored as theirs. Then the bot is started again.

At the end, with the bot running and nothing moving any more:
- every ticket number a resident was shown exists exactly once, is that resident's, and each
  resident has exactly the tickets they were told about;
- every ticket's card is in the moderation chat exactly once, every staff reply reached its
  resident exactly once, each visibly pending in the outbox instead where it is not (yet): a
  row "pending" (it will be sent: so it must not have been delivered already), or in any other
  state than "sent" and "failed" (the outbox saying it is not sure whether it went out);
- no intake row is left broken, and a resident can start a report and /cancel it;
- Telegram refused nothing;
- what the bot had confirmed to Telegram when it was killed (the acked kill) was handled after
  the restart: nobody had to send it again.
What pending rows remain, and why people had to repeat themselves, is printed (pytest -s).

CRASH_SEED=<n> runs another seed (the seed and the kill plan are printed). About 30 s.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db.store import update_digest
from tests.fake_bot_api import FakeBotApi, SentMessage

ROOT = Path(__file__).resolve().parent.parent
SEED = int(os.environ.get("CRASH_SEED") or 20261128)

MODERATION = -1001234567890  # the moderation supergroup
STAFF = 501  # its member, also in STAFF_IDS
FIRST_RESIDENT = 2001
RESIDENTS = 8
COMPLAINTS = 2  # each, one after the other
KINDS = ("time", "card", "reply", "confirm", "number", "update", "acked")  # see the module's docstring
KILLS = len(KINDS)

QUIET = 3.0  # seconds of the bot being up without an answer, after which a person sends again
STAFF_TRIES = 3  # replies to one card without a confirmation, after which staff give up
STABLE = 2.0  # seconds without any change after which the end state counts as settled
FALLBACK = 3.0  # seconds of uptime after which a kill whose event did not come happens anyway
POLL = 0.02  # seconds between two looks at the fake server or the database
START_TIMEOUT = 30.0  # seconds for the bot process to poll for updates after it was started
SIM_TIMEOUT = 120.0  # seconds for the whole simulation: a resident stuck longer is a failure
SETTLE_TIMEOUT = 30.0  # seconds for cards, replies and the outbox to settle at the end

NUMBER = re.compile(r"TQ-\d{4}-\d{4}")
STEPS = {"what", "where", "photos", "phone", "confirm", "edit_what", "edit_where"}

# What the residents report: every text reads as a complaint, and no two tickets are alike
# (different places, different problems), so none is merged as a duplicate of another.
PROBLEMS = [
    "楼道里的路灯坏了一个星期了,晚上黑漆漆的",
    "小区门口的垃圾箱满了好几天没人清",
    "楼下烧烤店油烟太大了,熏得窗户都不敢开",
    "楼下的共享单车乱停,把人行道都堵死了",
    "隔壁装修天天有噪音,半夜还在敲墙",
    "楼上卫生间漏水,我家天花板都发霉了",
    "小区里有人违章搭建铁皮房",
    "楼道里有人拉电线飞线充电,太危险了",
    "广场舞音响太吵,每天晚上吵到十点",
    "下水道堵了,污水漫到路上",
    "绿化带里老鼠很多,晚上到处跑还有异味",
    "电梯坏了好几天没人修,老人只能爬楼",
    "消防通道被车占了,救护车开不进来",
    "路边井盖破了,差点有人掉下去受伤",
    "对面群租房住了十几个人,天天吵闹",
    "工地凌晨打桩,吵得整晚睡不着",
]
PLACES = ("峨山路91弄5号楼 崂山路200弄8号 东方路1000弄门口 浦东南路1500号 张杨路620弄12号 源深路88号西门 "
          "潍坊西路3弄6号 南泉北路455号 福山路33弄2号楼 松林路77号 桃林路18弄9号 栖霞路120号 乳山路220弄15号 "
          "东昌路568号 羽山路300弄4号 商城路1101号").split()


def staff_words(number: str) -> str:
    """What the staff member answers on the card of ticket `number` (unique per ticket)."""
    return f"收到,已派人去现场查看({number})"


# --------------------------------------------------------------------------------------------
# The bot process
# --------------------------------------------------------------------------------------------


class BotProcess:
    """`python -m bot run` against the fake server; killed and started again by the test."""

    def __init__(self, server: FakeBotApi, database: Path, workdir: Path) -> None:
        self.server = server
        self.log = workdir / "bot.log"
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("TELEGRAM_", "WEBHOOK_", "WECHAT_", "MODERATION_", "STAFF_", "DATABASE_"))}
        self.env.update(
            TELEGRAM_BOT_TOKEN=server.token,
            TELEGRAM_BASE_URL=server.base_url,
            DATABASE_URL=f"sqlite:///{database}",
            MODERATION_CHAT_ID=str(MODERATION),
            STAFF_IDS=str(STAFF),
            EXPORT_DIR=str(workdir / "exports"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
        )
        self.process: asyncio.subprocess.Process | None = None
        self.generation = 0  # how many times it was started
        self.down = True  # killed (or not started): requests that still arrive are from a dead process
        self.up_since: float | None = None  # when it first polled for updates after its start
        self.starts: list[float] = []  # seconds each start took, until the first getUpdates
        self.group_marks: list[int] = []  # messages in the moderation chat at each start
        server.on_request(self._on_request)

    def _on_request(self, method: str, params: dict[str, Any]) -> None:
        if method.lower() == "getupdates" and not self.down and self.up_since is None:
            self.up_since = time.monotonic()

    async def start(self) -> None:
        self.generation += 1
        self.group_marks.append(len(self.server.messages_to(MODERATION)))
        with self.log.open("ab") as log:
            log.write(f"\n===== start {self.generation} =====\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", env=self.env, cwd=self.workdir,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.down, self.up_since = False, None
        began = time.monotonic()
        deadline = began + START_TIMEOUT
        while self.up_since is None:
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"the bot did not start (exit status {self.process.returncode}):\n{self.log_tail()}")
            await asyncio.sleep(POLL)
        self.starts.append(self.up_since - began)

    def kill(self, generation: int) -> bool:
        """SIGKILL, now, if `generation` is still the one running."""
        if self.down or generation != self.generation:
            return False
        os.kill(self.process.pid, signal.SIGKILL)
        self.down, self.up_since = True, None
        return True

    async def wait_dead(self) -> None:
        await self.process.wait()

    async def stop(self) -> None:
        """The end of the test: SIGTERM (a normal stop), SIGKILL if that takes too long."""
        if self.process is None or self.process.returncode is not None:
            return
        self.down, self.up_since = True, None
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def uptime_since(self, moment: float) -> float:
        """Seconds the bot has been up since `moment` (0 while it is down)."""
        if self.down or self.up_since is None:
            return 0.0
        return time.monotonic() - max(moment, self.up_since)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text("utf-8", "replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# The database, read directly
# --------------------------------------------------------------------------------------------


def query(database: Path, sql: str, *args: Any) -> list[tuple]:
    connection = sqlite3.connect(database, timeout=10)
    try:
        return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------
# The simulation
# --------------------------------------------------------------------------------------------


@dataclass
class Resident:
    user_id: int
    complaints: list[tuple[str, str]]  # (what, where)
    cancel: tuple[int, int] | None = None  # (complaint, answers): /cancel that complaint after so many answers
    confirmed: list[str] = field(default_factory=list)  # ticket numbers the bot confirmed to them
    resends: int = 0
    cursor: int = 0  # how many of the messages to them they have read
    done: bool = False

    @property
    def expected(self) -> int:
        """How many tickets they file."""
        return len(self.complaints) - (self.cancel is not None)


@dataclass
class Kill:
    kind: str
    nth: int  # the nth event of its kind after arming
    delay: float  # seconds after the event (the moment itself for card and reply)
    seen: int = 0
    fired: str = ""  # what happened, for the report
    generation: int = 0


class Simulation:
    def __init__(self, server: FakeBotApi, bot: BotProcess, database: Path, rng: random.Random) -> None:
        self.server, self.bot, self.database, self.rng = server, bot, database, rng
        self.residents = [
            Resident(FIRST_RESIDENT + i, [(PROBLEMS[i * COMPLAINTS + j], PLACES[i * COMPLAINTS + j]) for j in range(COMPLAINTS)])
            for i in range(RESIDENTS)
        ]
        self.residents[-1].cancel = (COMPLAINTS - 1, rng.randint(1, 3))  # gives up on their last report
        self.progress = 0  # answers people got: spreads the kills over the simulation
        self.expected_progress = sum(r.expected for r in self.residents) * 6  # 5 dialog steps, 1 staff reply a ticket
        self.repeated: list[tuple[str, int, str]] = []  # (who, update id, its fate) of what people sent again
        self.cards: dict[str, list[SentMessage]] = defaultdict(list)  # ticket number -> its cards, as they came
        self.confirmations: Counter[str] = Counter()  # ticket number -> "✅ 已转给" seen
        self.staff_sends: Counter[str] = Counter()  # ticket number -> times the staff member sent the reply
        self.staff_done: set[str] = set()  # confirmed
        self.staff_gave_up: set[str] = set()  # never confirmed, after STAFF_TRIES replies
        self.staff_tasks: dict[str, asyncio.Task] = {}
        self.group_cursor = 0
        self.kill: Kill | None = None
        self.kills: list[Kill] = []
        self.returned_updates: dict[int, set[int]] = defaultdict(set)  # update id -> the bot runs that got it
        self.dropped: list[str] = []  # messages the bot was sending when it was killed: they never arrived
        self.awaiting_ack: tuple[int, str] | None = None  # (update id, what): the acked kill's update
        self.acked: list[tuple[int, str]] = []  # (update id, what) confirmed to Telegram by a bot killed then
        self.started = time.monotonic()
        self.failure: BaseException | None = None
        self._install_triggers()

    # -- the kill triggers -------------------------------------------------------------------

    def _install_triggers(self) -> None:
        self.server.on_request(self._on_request)
        original = self.server._api_getupdates

        async def get_updates(params: dict[str, Any]) -> list[dict[str, Any]]:
            generation = None if self.bot.down else self.bot.generation
            updates = await original(params)
            if generation is not None and generation == self.bot.generation and not self.bot.down:
                self._on_updates(updates)
            return updates

        self.server._api_getupdates = get_updates  # the server looks methods up on the instance

    def _on_request(self, method: str, params: dict[str, Any]) -> None:
        kill = self.kill
        if kill is None or kill.fired or self.bot.down:
            return
        if method.lower() == "getupdates" and self.awaiting_ack and int(params.get("offset") or 0) > self.awaiting_ack[0]:
            self.acked.append(self.awaiting_ack)  # the fake forgets it as it answers this request
            self._fire(kill, f"{self.awaiting_ack[1]}, and the bot confirmed it to Telegram")
            self.awaiting_ack = None
            return
        if method.lower() != "sendmessage":
            return
        chat, text = str(params.get("chat_id")), str(params.get("text") or "")
        number = NUMBER.search(text)
        if kill.kind == "card" and chat == str(MODERATION) and text.startswith("🆕"):
            self._count(kill, f"Telegram accepted the card of {number.group(0)}")
        elif kill.kind == "reply" and not chat.startswith("-") and "街道办答复" in text:
            self._count(kill, f"Telegram accepted the staff reply about {number.group(0)} for {chat}")
        elif kill.kind == "confirm" and chat == str(MODERATION) and "已转给" in text:
            self._count(kill, f"the bot was sending the staff their confirmation for {number.group(0)}", drop=(chat, text))
        elif kill.kind == "number" and not chat.startswith("-") and "已提交" in text:
            self._count(kill, f"the bot was sending resident {chat} the number {number.group(0)}", drop=(chat, text))

    def _on_updates(self, updates: list[dict[str, Any]]) -> None:
        kill = self.kill
        for update in updates:
            if update["update_id"] in self.returned_updates:
                self.returned_updates[update["update_id"]].add(self.bot.generation)
                continue
            self.returned_updates[update["update_id"]].add(self.bot.generation)
            if kill is None or kill.fired:
                continue
            query_ = update.get("callback_query") or {}
            message = update.get("message") or {}
            if kill.kind == "update" and query_.get("data") == "ik:submit":
                self._count(kill, f"getUpdates handed over the Submit of {query_['from']['id']}")
            elif kill.kind == "update" and message.get("chat", {}).get("id") == MODERATION:
                self._count(kill, f"getUpdates handed over the staff message {message.get('text', '')!r}")
            elif kill.kind == "acked" and not self.awaiting_ack and (
                    query_.get("data") == "ik:submit" or message.get("chat", {}).get("id") == MODERATION):
                kill.seen += 1
                if kill.seen == kill.nth:  # killed when the bot confirms it (_on_request)
                    self.awaiting_ack = (update["update_id"], f"getUpdates handed over update {update['update_id']}")

    def _count(self, kill: Kill, what: str, drop: tuple[str, str] | None = None) -> None:
        """One more event of the kill's kind; at the nth, kill. `drop`: (chat, text) of the
        message the bot was sending, which then never reaches Telegram."""
        kill.seen += 1
        if kill.seen == kill.nth:
            if drop is not None:  # the fake looks at its failures right after the hooks: this very request
                self.server.fail_next("sendMessage", 502, chat_id=drop[0])
                self.dropped.append(drop[1])
            self._fire(kill, what + (" (lost with the bot)" if drop else ""))

    def _fire(self, kill: Kill, what: str) -> None:
        kill.fired = f"{what}, +{kill.delay * 1000:.0f} ms" if kill.delay else what
        if kill.delay:
            asyncio.get_running_loop().call_later(kill.delay, self.bot.kill, kill.generation)
        else:
            self.bot.kill(kill.generation)

    async def killer(self, plan: list[Kill]) -> None:
        """Kill the bot KILLS times, spread over the simulation; check the database while it is
        down; start it again."""
        for number, kill in enumerate(plan, start=1):
            await self.until(lambda n=number: self.progress >= n * self.expected_progress / (KILLS + 1) or self.everyone_done(),
                             f"progress for kill {number}")
            armed = time.monotonic()
            kill.generation = self.bot.generation
            self.kill = kill
            if kill.kind == "time":
                self._fire(kill, "a random moment")
            while not self.bot.down:
                if self.bot.uptime_since(armed) > FALLBACK and not kill.fired:
                    kill.delay = 0.0
                    self._fire(kill, f"no {kill.kind} event within {FALLBACK} s: at once (fallback)")
                await asyncio.sleep(POLL)
            await self.bot.wait_dead()
            at = time.monotonic() - self.started
            self.kill, self.awaiting_ack = None, None
            self.kills.append(kill)
            print(f"kill {number} at {at:5.1f} s: {kill.kind} #{kill.nth}: {kill.fired}")
            check_database(self, f"after kill {number} ({kill.kind}: {kill.fired})")
            await self.bot.start()

    # -- people --------------------------------------------------------------------------------

    async def until(self, condition: Callable[[], Any], what: str, timeout: float = SIM_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.failure is not None:
                raise AssertionError("the simulation failed") from self.failure
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout} s (seed {SEED})")
            await asyncio.sleep(POLL)

    def everyone_done(self) -> bool:
        return all(r.done for r in self.residents) and set(self.cards) <= self.staff_done | self.staff_gave_up

    def _dialog(self, resident: Resident) -> list[SentMessage]:
        """New messages to a resident, without the staff replies (not part of a dialog) and
        without a late second confirmation of a ticket they already have."""
        messages = self.server.messages_to(resident.user_id)
        new, resident.cursor = messages[resident.cursor:], len(messages)
        return [m for m in new if "街道办答复" not in m.plain_text
                and not ("已提交" in m.plain_text and set(NUMBER.findall(m.plain_text)) & set(resident.confirmed))]

    async def exchange(self, resident: Resident, action: tuple) -> SentMessage:
        """Send a text or press a button, and return the bot's answer (its last message);
        with no answer for QUIET seconds of the bot's uptime, do the same again."""
        self._dialog(resident)  # what came before is read
        deadline = time.monotonic() + SIM_TIMEOUT
        while True:
            if action[0] == "text":
                update = self.server.push_text(resident.user_id, action[1])
            else:
                update = self.server.push_callback(resident.user_id, action[2], action[1])
            sent = time.monotonic()
            while self.bot.uptime_since(sent) < QUIET:
                if answers := self._dialog(resident):
                    self.progress += 1
                    return answers[-1]
                if time.monotonic() > deadline:
                    raise AssertionError(f"resident {resident.user_id} got no answer to {action} within {SIM_TIMEOUT} s")
                await asyncio.sleep(POLL)
            resident.resends += 1
            self.note_repeat(f"resident {resident.user_id}", update)

    def note_repeat(self, who: str, update: dict[str, Any]) -> None:
        """Someone sends again: was the update unanswered though Telegram still had it, or
        had the bot taken it (confirmed it with a later getUpdates)?"""
        update_id = update["update_id"]
        queued = any(u["update_id"] == update_id for u in self.server._updates)
        runs = len(self.returned_updates.get(update_id, ()))
        fate = "queued" if queued else "unseen" if not runs else "taken" if runs == 1 else "redelivered"
        self.repeated.append((who, update_id, fate))

    async def think(self) -> None:
        await asyncio.sleep(self.rng.uniform(0.05, 0.4))

    async def run_resident(self, resident: Resident) -> None:
        await asyncio.sleep(self.rng.uniform(0, 1.5))
        for index, (what, where) in enumerate(resident.complaints):
            action: tuple = ("text", what)
            answers = 0
            while True:
                answer = await self.exchange(resident, action)
                answers += 1
                text, buttons = answer.plain_text, answer.callback_data()
                if action == ("text", "/cancel"):
                    if "已取消" in text:
                        break
                    assert answers < resident.cancel[1] + 3, f"resident {resident.user_id} sent /cancel and got {text!r}"
                    continue  # a late answer to what they did before: /cancel again
                if "已提交" in text and NUMBER.search(text):  # ticket_created: done
                    resident.confirmed.append(NUMBER.search(text).group(0))
                    break
                if resident.cancel == (index, answers):
                    action = ("text", "/cancel")
                elif "ik:submit" in buttons:  # the summary
                    action = ("press", answer.message_id, "ik:submit")
                elif "ik:skip" in buttons:  # photos, then phone
                    action = ("press", answer.message_id, "ik:skip")
                elif "问题在哪里" in text:
                    action = ("text", where)
                elif "已补充到工单" in text or "已取消" in text or "描述发生了什么" in text:
                    # the text joined the ticket staff just answered / a stale button / "what happened?"
                    action = ("text", what)
                else:
                    raise AssertionError(f"resident {resident.user_id} filing {what!r} got an unexpected answer: {text!r}")
                await self.think()
        resident.done = True

    async def run_staff(self) -> None:
        """Watch the moderation chat: answer every ticket's card (once per ticket)."""
        while True:
            messages = self.server.messages_to(MODERATION)
            for message in messages[self.group_cursor:]:
                number = NUMBER.search(message.plain_text)
                if number is None:
                    continue
                if message.plain_text.startswith("🆕"):
                    self.cards[number.group(0)].append(message)
                    if number.group(0) not in self.staff_tasks:
                        self.staff_tasks[number.group(0)] = asyncio.create_task(self.guarded(self.answer_card(number.group(0))))
                elif "已转给" in message.plain_text:
                    self.confirmations[number.group(0)] += 1
            self.group_cursor = len(messages)
            await asyncio.sleep(POLL)

    async def answer_card(self, number: str) -> None:
        """Reply to the ticket's newest card; without a "✅ 已转给" for QUIET seconds of the bot's
        uptime, reply again (STAFF_TRIES times in all, then give up)."""
        await self.think()
        for _ in range(STAFF_TRIES):
            seen = self.confirmations[number]
            card = self.cards[number][-1]
            update = self.server.push_group_text(MODERATION, STAFF, staff_words(number), reply_to=card.message_id)
            self.staff_sends[number] += 1
            sent = time.monotonic()
            while self.bot.uptime_since(sent) < QUIET and self.confirmations[number] == seen:
                await asyncio.sleep(POLL)
            if self.confirmations[number] > seen:
                self.progress += 1
                self.staff_done.add(number)
                return
            self.note_repeat("staff", update)
        self.staff_gave_up.add(number)
        self.progress += 1

    async def guarded(self, coroutine) -> None:
        try:
            await coroutine
        except BaseException as error:
            self.failure = self.failure or error
            raise


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def intake_problems(database: Path, sim: Simulation) -> list[str]:
    """Every half-filled report is at a known step with what that step needs filled in."""
    problems = []
    texts = {r.user_id: {what for what, _ in r.complaints} for r in sim.residents}
    rows = []
    for user, step, filled in query(database, "SELECT user_id, step, filled FROM conversation WHERE dialog = 'complaint'"):
        report = json.loads(filled)
        rows.append((user, step, report.get("text"), report.get("place"), report.get("latitude"),
                     json.dumps(report.get("photos", [])), report.get("started")))
    for user, step, text, place, latitude, photos, started in rows:
        where = f"intake of resident {user} at step {step!r}"
        if user is None:
            problems.append(f"{where}: no resident row")
            continue
        if step not in STEPS:
            problems.append(f"{where}: not a step")
        if step != "what" and text not in texts[int(user)]:
            problems.append(f"{where}: text {text!r} is not what the resident reported")
        if step in ("photos", "phone", "confirm") and not (place or "").strip() and latitude is None:
            problems.append(f"{where}: no place")
        try:
            pictures = json.loads(photos or "")
            if not isinstance(pictures, list) or len(pictures) > 5:
                problems.append(f"{where}: photos {photos!r}")
        except ValueError:
            problems.append(f"{where}: photos {photos!r} is not JSON")
        if not started:
            problems.append(f"{where}: no start time")
    return problems


def repeats_summary(sim: Simulation) -> str:
    """Why people had to send something again (nothing here is a failure: people do re-send)."""
    try:
        handled = {key for (key,) in query(sim.database, "SELECT key FROM processedupdate")}
    except sqlite3.OperationalError:
        handled = set()
    fates: Counter[str] = Counter()
    for who, update_id, fate in sim.repeated:
        recorded = update_digest(f"telegram:u:{update_id}", sim.server.token.partition(":")[0]) in handled
        if fate == "taken":
            fate = ("handled (at least begun) by the killed bot, answer lost" if recorded else
                    "fetched and confirmed by the killed bot, never handled")
        elif fate == "redelivered":
            fate = ("redelivered after the restart, but recorded as handled: ignored" if recorded else
                    "redelivered after the restart, yet unanswered")
        else:
            fate = {"queued": "still waiting at Telegram", "unseen": "never fetched"}[fate]
        fates[f"{who.split()[0]}: {fate}"] += 1
    return "; ".join(f"{n} x {fate}" for fate, n in sorted(fates.items())) or "none"


def check_database(sim: Simulation, when: str) -> None:
    """With the bot down: what was committed is whole."""
    database = sim.database
    problems = intake_problems(database, sim)
    for (number,) in query(database, "SELECT t.number FROM ticket t WHERE t.duplicate_of IS NULL AND NOT EXISTS "
                                     "(SELECT 1 FROM outboxmessage o WHERE o.ticket_id = t.id AND o.purpose = 'card')"):
        problems.append(f"{number} has no card in the outbox")
    for number, events, queued in query(
            database, "SELECT t.number, (SELECT count(*) FROM ticketevent e WHERE e.ticket_id = t.id AND e.kind = 'reply'), "
                      "(SELECT count(*) FROM outboxmessage o WHERE o.ticket_id = t.id AND o.purpose = 'reply') FROM ticket t"):
        if events != queued:
            problems.append(f"{number}: {events} staff reply event(s) but {queued} reply message(s) in the outbox")
    stored = dict(query(database, "SELECT number, chat_id FROM ticket"))
    for resident in sim.residents:
        for number in resident.confirmed:
            if stored.get(number) != str(resident.user_id):
                problems.append(f"{number}, shown to resident {resident.user_id}, is stored as {stored.get(number)!r}")
    assert not problems, f"{when}: the database is inconsistent (seed {SEED}):\n" + "\n".join(problems)


def final_problems(sim: Simulation) -> tuple[list[str], list[str]]:
    """What is wrong at the end, and notes on what is pending (allowed, but worth knowing)."""
    server, database = sim.server, sim.database
    problems: list[str] = []
    notes: list[str] = []
    tickets = {number: (ticket_id, chat, card_id) for ticket_id, number, chat, card_id in
               query(database, "SELECT id, number, chat_id, card_message_id FROM ticket")}
    counts = Counter(number for (number,) in query(database, "SELECT number FROM ticket"))
    outbox: dict[tuple[int, str], list[tuple]] = defaultdict(list)
    for row_id, ticket_id, purpose, state, attempts in query(
            database, "SELECT id, ticket_id, purpose, state, attempts FROM outboxmessage ORDER BY id"):
        outbox[(ticket_id, purpose)].append((row_id, state, attempts))
    try:  # a lease held by a killed worker (db.outbox.claim), if the outbox has leases
        claims = dict(query(database, "SELECT id, claimed_until FROM outboxmessage WHERE state = 'pending' "
                                      "AND claimed_until IS NOT NULL"))
    except sqlite3.OperationalError:
        claims = {}
    relays = {message_id for (message_id,) in query(database, "SELECT message_id FROM relaymessage WHERE chat_id = ?",
                                                    str(MODERATION))}

    def rows_text(rows: list[tuple]) -> str:
        return ", ".join(f"#{i} {state} ({attempts} failed attempts)" + (f", claimed until {claim}" if claim else "")
                         for i, state, attempts, claim in ((*r, claims.get(r[0])) for r in rows)) or "none"

    # Ticket numbers residents were shown: stored once, theirs, and all of theirs.
    shown_to: dict[str, set[int]] = defaultdict(set)
    for resident in sim.residents:
        for message in server.messages_to(resident.user_id):
            for number in NUMBER.findall(message.plain_text):
                shown_to[number].add(resident.user_id)
    for number, users in sorted(shown_to.items()):
        if counts[number] != 1:
            problems.append(f"{number}, shown to resident(s) {sorted(users)}, is stored {counts[number]} times")
        if len(users) > 1:
            problems.append(f"{number} was shown to several residents: {sorted(users)}")
        if number in tickets and {str(u) for u in users} != {tickets[number][1]}:
            problems.append(f"{number} belongs to chat {tickets[number][1]} but was shown to {sorted(users)}")
    for resident in sim.residents:
        theirs = sorted(number for number, (_, chat, _) in tickets.items() if chat == str(resident.user_id))
        if theirs != sorted(set(resident.confirmed)) or len(resident.confirmed) != resident.expected:
            problems.append(f"resident {resident.user_id} was confirmed {resident.confirmed} but has tickets {theirs}")
        for number in theirs:
            text = query(database, "SELECT text FROM ticket WHERE number = ?", number)[0][0]
            if text not in {what for what, _ in resident.complaints}:
                problems.append(f"{number} of resident {resident.user_id} says {text!r}, which they did not report")

    # Cards and staff replies: each delivered exactly once, or visibly pending in the outbox.
    # A row "pending" will be sent (again); "sent" says it was; any other state than these and
    # "failed" is taken as the outbox saying it is unsure (visibly pending, never sent again).
    def judge(what: str, delivered: int, rows: list[tuple]) -> str | None:
        states = {state for _, state, _ in rows}
        listed = rows_text(rows)
        if delivered > 1:
            problems.append(f"{what}: delivered {delivered} times; outbox rows: {listed}")
        elif delivered == 1 and "pending" in states:
            problems.append(f"{what}: delivered, yet still pending in the outbox, so it goes out again: {listed}")
        elif delivered == 0 and not states - {"sent", "failed"}:
            return "lost"
        elif delivered == 0:
            notes.append(f"{what}: not delivered yet, pending in the outbox: {listed}")
        elif states - {"sent", "failed"}:
            notes.append(f"{what}: delivered once; the outbox is unsure: {listed}")
        else:
            return "ok"
        return None

    cards: dict[str, list[int]] = defaultdict(list)
    for message in server.messages_to(MODERATION):
        if message.plain_text.startswith("🆕"):
            cards[NUMBER.search(message.plain_text).group(0)].append(message.message_id)
    for number, (ticket_id, _, card_id) in sorted(tickets.items()):
        what = f"the card of {number} (messages {cards[number]})"
        verdict = judge(what, len(cards[number]), outbox[(ticket_id, "card")])
        if verdict == "lost":
            problems.append(f"{what}: lost, never delivered and not pending: {rows_text(outbox[(ticket_id, 'card')])}")
        elif verdict == "ok" and card_id != str(cards[number][0]):
            problems.append(f"{what}: the ticket says its card is message {card_id}")

    for number, (ticket_id, chat, _) in sorted(tickets.items()):
        words = staff_words(number)
        delivered = Counter(m.chat_id for m in server.sent if words in m.plain_text and m.chat_id != MODERATION)
        elsewhere = {c: n for c, n in delivered.items() if str(c) != chat}
        if elsewhere:
            problems.append(f"the staff reply to {number} (chat {chat}) went to other chats: {elsewhere}")
        rows = outbox[(ticket_id, "reply")]
        if not sim.staff_sends[number]:
            if rows:
                problems.append(f"staff never replied to {number}, yet the outbox has replies: {rows_text(rows)}")
            continue
        what = (f"the staff reply to {number} (sent by staff {sim.staff_sends[number]} time(s), "
                f"{'confirmed' if number in sim.staff_done else 'never confirmed'})")
        if judge(what, delivered[int(chat)], rows) == "lost":
            orphans = [m for m in cards[number] if str(m) not in relays]
            problems.append(f"{what}: lost, never delivered to resident {chat} and not in the outbox" + (
                f"; the bot does not know card(s) {orphans} of {number} (no relaymessage row), so it ignored the "
                "replies to them" if orphans else ""))
    problems += intake_problems(database, sim)
    refused = [(c.method, c.status, str(c.params.get("text", ""))[:40]) for c in server.calls
               if c.status != 200
               and c.method.lower() != "answercallbackquery"  # a redelivered press: answered already
               and not (c.status == 500 and not c.params)  # a request the kill cut off before it was whole
               and not (c.status == 502 and c.params.get("text") in sim.dropped)]  # lost with the killed bot
    if refused:
        problems.append(f"Telegram refused requests: {refused}")
    for update_id, what in sim.acked:
        if again := [who for who, repeated, _ in sim.repeated if repeated == update_id]:
            problems.append(f"update {update_id} ({what}) was never handled: {', '.join(again)} had to send it again")
    failed = query(database, "SELECT id, purpose, last_error FROM outboxmessage WHERE state = 'failed'")
    if failed:
        problems.append(f"outbox messages failed for good: {failed}")
    return problems, notes


async def settle(sim: Simulation) -> str:
    """Wait until the staff member has answered every card that came and nothing has changed
    (no message sent, no outbox row) for STABLE seconds; returns how it ended."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        state = (len(sim.server.sent), tuple(query(sim.database, "SELECT id, state FROM outboxmessage ORDER BY id")))
        if state != last:
            last, since = state, time.monotonic()
        answered = set(sim.cards) <= sim.staff_done | sim.staff_gave_up
        if answered and time.monotonic() - since >= STABLE:
            return f"settled ({len([1 for _, s in state[1] if s == 'pending'])} outbox messages pending)"
        await asyncio.sleep(POLL * 5)
    return f"not settled within {SETTLE_TIMEOUT} s"


# --------------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------------


async def test_killed_bot_loses_nothing_and_doubles_nothing(tmp_path):
    rng = random.Random(SEED)
    plan = [Kill(kind, rng.randint(1, 2), rng.uniform(0.1, 1.5) if kind == "time" else
                 rng.uniform(0.0, 0.03) if kind == "update" else 0.0)
            for kind in rng.sample(KINDS, len(KINDS))]
    print(f"\ncrash test: seed {SEED} (CRASH_SEED=... for another), {RESIDENTS} residents x {COMPLAINTS} complaints, "
          f"{KILLS} kills: " + ", ".join(f"{k.kind} #{k.nth} +{k.delay * 1000:.0f} ms" for k in plan))
    database = tmp_path / "bot.db"
    began = time.monotonic()
    async with FakeBotApi() as server:
        server.add_chat(MODERATION, "supergroup", title="塘桥街道 工单")
        server.add_member(MODERATION, STAFF, "member")
        bot = BotProcess(server, database, tmp_path)
        sim = Simulation(server, bot, database, rng)
        tasks: list[asyncio.Task] = []
        try:
            await bot.start()
            staff = asyncio.create_task(sim.guarded(sim.run_staff()))
            killer = asyncio.create_task(sim.guarded(sim.killer(plan)))
            residents = [asyncio.create_task(sim.guarded(sim.run_resident(r))) for r in sim.residents]
            tasks = [staff, killer, *residents]
            await asyncio.gather(killer, *residents)
            simulated = time.monotonic() - began

            # everything settles with the bot running: cards answered, nothing moving any more
            print(await settle(sim))
            for task in sim.staff_tasks.values():
                task.cancel()

            # a resident can start a report and /cancel it
            someone = sim.residents[0]
            answer = await sim.exchange(someone, ("text", "/report"))
            assert "描述发生了什么" in answer.plain_text, answer.plain_text
            assert query(database, "SELECT step FROM conversation WHERE dialog = 'complaint' AND user_id = ?",
                         str(someone.user_id)) == [("what",)]
            answer = await sim.exchange(someone, ("text", "/cancel"))
            assert "已取消" in answer.plain_text, answer.plain_text
            assert query(database, "SELECT count(*) FROM conversation WHERE dialog = 'complaint'") == [(0,)]

            problems, notes = final_problems(sim)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await bot.stop()

    total = time.monotonic() - began
    resends = sum(r.resends for r in sim.residents)
    staff_resends = sum(n - 1 for n in sim.staff_sends.values())
    print(f"{len(sim.kills)} kills; bot start-up {', '.join(f'{s:.1f}' for s in bot.starts)} s; residents re-sent "
          f"{resends} time(s), staff {staff_resends}; simulation {simulated:.1f} s, total {total:.1f} s")
    marks = [*bot.group_marks, len(server.messages_to(MODERATION))]
    print(f"re-sent: {repeats_summary(sim)}")
    print(f"messages to the moderation chat per bot run: {[b - a for a, b in zip(marks, marks[1:], strict=False)]} "
          "(PTB's rate limiter holds a group to 20 a minute)")
    for note in notes:
        print(f"note: {note}")
    assert len(sim.kills) == KILLS
    assert not problems, (f"after {KILLS} kills (seed {SEED}; bot log {bot.log}):\n" + "\n".join(problems))
