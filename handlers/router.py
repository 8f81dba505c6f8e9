"""The one entry point of every channel: `handle(inbound, services) -> Reply`.

Every turn is understood first, in its conversation (db/conversations.py: the dialog and step
the person is in, their language, the topic they were last answered about):
1. a dialog that waited longer than its timeout lapses (handlers/dialogs.py: a report becomes a
   draft offered next time, a waiting state is forgotten);
2. a bare control word of the dialog ("不留了", "skip", "提交", "算了") is taken as such;
   otherwise an emergency comes first, for everyone who is not staff, whatever command word
   precedes it ("/ticket 楼道里冒烟了"), before throttling, dialogs and buttons;
3. a pressed button, or a /command (both end a waiting state), or a message: inside a dialog a
   confident question is answered and the step asked again, anything else is the step's answer
   (the dialog's module, named in its table, takes it); outside, the model (content/model.py)
   sorts free text into a complaint, an opinion, a question about an earlier report, a greeting,
   or a question about an entry - a short follow-up read against the last answer's topic.
The record is written back once, at the end of the turn.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
import re
import unicodedata
import weakref
from datetime import timedelta
from typing import TYPE_CHECKING

from content.model import Understanding
from content.normalize import has_han
from handlers import browse, commands, dialogs, emergency, events, opinions
from handlers.dialogs import DIALOGS, Turn
from handlers.lazy import lazy_module
from handlers.services import Services
from handlers.types import Button, Inbound, Outbound, Reply

if TYPE_CHECKING:
    from db.conversations import Talk
    from db.models import Resident
    from db.store import ResidentState
    from handlers import complaint, my_tickets, privacy, review, staff
else:  # they bring SQLAlchemy: loaded when a resident or staff first needs one (handlers/lazy.py), not by `ask`
    complaint, my_tickets, privacy, review, staff = (
        lazy_module(f"handlers.{name}") for name in ("complaint", "my_tickets", "privacy", "review", "staff"))

# asking for a person rather than the assistant ("我要人工客服", "can I talk to a real person")
# ("你是真人吗" / "are you human?" asks what the assistant is: a greeting, answered by its template)
_HUMAN = re.compile(r"人工客服|人工服务|转人工|找人工|接人工|(找|要|转|接)真人"
                    r"|\b(talk|speak) (to|with) (a |an )?(real )?(person|human|someone|staff|agent)\b", re.IGNORECASE)
FOLLOW_UP = timedelta(minutes=15)  # a short question this soon after an answer may be about its topic
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_THANKS_RE = re.compile(r"谢|thank", re.I)
# buttons that are menus: pressing one ends a waiting state (the dialogs' own buttons do not)
_MENU_BUTTONS = ("menu", "area", "lang", "leave", "report", "mytickets", "sub", "unsub", "forget")
# one turn at a time per conversation in this process (an album of photos on WeChat arrives at once)
log = logging.getLogger(__name__)
_turns: weakref.WeakValueDictionary[tuple[str, str, str], asyncio.Lock] = weakref.WeakValueDictionary()


def pick_language(inbound: Inbound, resident: Resident | None, default: str, talk: Talk | None = None,
                  understanding: Understanding | None = None) -> str:
    """The resident's explicit /lang choice; else the script of what they write, when it says
    something (not a digit, a phone number, a one-word reply, a command, a button, nor the
    answer to a place or phone step); else the language they have been writing in; else the
    platform's hint."""
    if resident is not None and resident.language:
        return resident.language
    text = inbound.text
    if understanding is not None and understanding.read_as and _tells_language(text, talk):
        return "zh"  # pinyin, read as Chinese: answered in Chinese (not a place typed in pinyin at the place step)
    if text and not text.startswith("/") and inbound.callback is None and _tells_language(text, talk):
        if has_han(text):
            return "zh"
        return "en"
    if talk is not None and talk.language:
        return talk.language
    if text and not text.startswith("/"):
        if has_han(text):
            return "zh"
        if _LATIN_WORD.search(text):
            return "en"
    hint = (inbound.language or "").lower()
    if hint.startswith("en"):
        return "en"
    if hint.startswith("zh"):
        return "zh"
    return default


def _tells_language(text: str, talk: Talk | None) -> bool:
    step = DIALOGS[talk.dialog].step(talk.step) if talk is not None and talk.dialog in DIALOGS else None
    if step is not None and step.takes in ("place", "phone", "photos", "confirm"):
        return False
    if talk is None or talk.language is None:
        return has_han(text) or bool(_LATIN_WORD.search(text))
    if has_han(text):
        return len(_HAN.findall(text)) >= 3
    words = _LATIN_WORD.findall(text)
    return len(words) >= 2 and sum(map(len, words)) >= 8


async def handle(inbound: Inbound, services: Services) -> Reply:
    """The reply to one update. The update's key is claimed first, so a second delivery of
    it - even one arriving while the first is handled - is skipped; if handling fails the claim
    is given back (a resident's turn: rolled back with it), so a delivery after that is handled."""
    store = services.store
    key = inbound.key if store is not None else None
    for_staff = services.tickets.is_moderation_chat(inbound.channel, inbound.chat_id) or (
        commands.is_staff_command(inbound.text) and services.staff is not None
        and await services.staff.is_staff(inbound.channel, inbound.user_id))
    if for_staff or store is None:
        if key and not await store.claim_update(key, services.clock()):
            return Reply("info", [])
        try:
            return await (staff.handle(inbound, services) if for_staff else _handle(inbound, None, services))
        except BaseException:
            if key:
                await store.release_update(key)
            raise
    from db import conversations
    from db.store import Repeated

    lock = _turns.setdefault((inbound.channel, inbound.chat_id, inbound.user_id), asyncio.Lock())
    async with lock:
        try:
            # one unit of work, one commit: the claim, the resident and their conversation record,
            # tickets, opinions, outbox rows; a failure rolls the claim back with the rest
            async with store.turn() as session:
                state = await store.resident_state(inbound.channel, inbound.user_id, claim=key, chat_id=inbound.chat_id,
                                                   now=services.clock())
                before, last = _snapshot(state.talk), review.remembered(state.talk)
                reply = await _handle(inbound, state, services)
                await _keep_for_review(inbound, reply, services, state.talk, last)  # may change the record
                if not state.talk.gone and (_snapshot(state.talk) != before or state.talk.dialog is not None):
                    await conversations.write(session, state.talk)
        except Repeated:
            return Reply("info", [])
    return reply


async def _keep_for_review(inbound: Inbound, reply: Reply, services: Services, talk: Talk, last) -> None:
    """What staff should review of this turn (handlers/review.py), in the turn's transaction (each
    item under a savepoint): a failure loses the review item, never the resident's reply."""
    try:
        await review.keep(inbound, reply, services, talk, last)
    except Exception:  # noqa: BLE001 - logged; the turn goes on without it
        log.exception("could not keep a message for review")


def _snapshot(talk: Talk) -> tuple:
    return (talk.dialog, talk.step, repr(talk.filled), talk.topic, talk.language, talk.answered)


async def _handle(inbound: Inbound, state: ResidentState | None, services: Services) -> Reply:
    store = services.store
    resident = state.resident if state else None
    talk = state.talk if state else None
    now = services.clock()
    if state is not None and state.blocked:
        await store.reachable_again(resident.id)
        await _seen(resident, services)  # notices may reach them again
    if talk is not None and dialogs.lapsed(talk.dialog, talk.updated_at, now):
        if talk.dialog == "complaint":
            talk.park()  # offered to finish next time, never silently continued
        else:
            talk.leave()
    # What a resident types is read for an emergency first, the words after a command too
    # ("/opinion 楼道里冒烟了"); only free text goes on to be understood as a question.
    command = inbound.text.startswith("/")
    said = inbound.text.partition(" ")[2] if command else inbound.text
    control = (talk is not None and talk.dialog is not None and not command and inbound.callback is None
               and _control_word(said))
    understanding = None
    if inbound.callback is None and said.strip() and not control:
        understanding = services.model.understand(said, context=_context(talk, now))
    lang = pick_language(inbound, resident, services.default_language, talk, understanding)
    turn = Turn(inbound, lang, resident, talk, services, understanding)
    if understanding is not None and understanding.kind == "emergency":
        reply = await emergency.reply(said, understanding.dangers, inbound.channel, lang, services)
    elif inbound.callback is None and (pace := services.throttle.check(f"{inbound.channel}:{inbound.user_id}")) != "ok":
        # what residents type is counted, not the buttons they press while filing a report
        return Reply("info", [Outbound(services.texts.render("too_fast", lang))] if pace == "warn" else [])
    elif inbound.callback is not None:
        reply = await _on_button(turn)
    elif command:
        reply = await _on_command(turn)
    elif (kinds := _after_emergency(talk, now, understanding)) is not None:
        reply = emergency.again(kinds, lang, services)
    else:
        reply = await _on_message(turn)
    reply.language = lang
    if understanding is not None and not reply.best:
        reply.best = understanding.best  # staff's review of the turn uses them
    if talk is not None:
        talk.language = lang
        if reply.kind == "answer" and reply.topic:
            talk.topic, talk.topic_at = reply.topic, now
        elif reply.kind == "emergency" and understanding is not None and understanding.kind == "emergency":
            talk.topic, talk.topic_at = emergency.remembered(understanding.dangers), now
        talk.updated_at = now
        if talk.resumed and talk.dialog == "complaint":  # back to the report the dialog interrupted
            reply.messages += complaint.ask_again(turn)
        if talk.dialog is None and reply.kind not in ("emergency", "complaint", "cancel") and (
                offer := complaint.draft_offer(turn)) is not None:
            reply.messages.append(offer)
    return reply


def _after_emergency(talk: Talk | None, now, understanding: Understanding | None) -> str | None:
    """The kinds of a recent emergency, when this message (outside a dialog) is neither a clear
    question nor a greeting: what a frightened resident writes next gets the advice again, not
    a report form or a suggestion's thanks."""
    if talk is None or talk.dialog is not None or understanding is None:
        return None
    if understanding.kind in ("answer", "greeting", "ticket_status"):
        return None
    return emergency.recent(talk.topic, talk.topic_at, now)


def _control_word(text: str) -> bool:
    return dialogs.is_cancel(text) or dialogs.is_skip(text) or dialogs.is_submit(text) or dialogs.is_done(text)


def _context(talk: Talk | None, now) -> str | None:
    """The topic a follow-up may be about: the last answer's, while it is recent and outside a dialog."""
    if talk is None or talk.topic is None or talk.topic_at is None or now - talk.topic_at > FOLLOW_UP:
        return None
    # inside a dialog a short question is about its step ("留电话有什么用?" at the phone step), not the last answer
    return None if talk.dialog is not None else talk.topic


async def _seen(resident: Resident, services: Services) -> None:
    from db import events as stored_events

    async with services.store.transaction() as session:
        await stored_events.seen(session, resident.id)


async def _on_message(turn: Turn) -> Reply:
    """Text, photos or a location: the step of the dialog the resident is in, then free text."""
    inbound, talk, services, text = turn.inbound, turn.talk, turn.services, turn.text
    if (talk is not None and talk.dialog in (None, "reply") and dialogs.SATISFIED.match(text)
            and (ticket_id := await my_tickets.awaiting_rating(turn)) is not None):
        talk.leave()  # "很满意,谢谢你们" after a resolution: the top rating, with their words as its comment
        return await my_tickets.rate(f"rate:{ticket_id}:5", turn, comment=text)
    if talk is not None and talk.dialog in DIALOGS:
        dialog = DIALOGS[talk.dialog]
        step = dialog.step(talk.step)
        module = importlib.import_module(dialog.handler)
        if talk.dialog != "complaint" and dialogs.is_cancel(text):
            talk.leave()
            return Reply("cancel", [Outbound(services.texts.render("cancelled", turn.lang))])
        if step is not None and step.questions and _asks(turn, step):
            return await _answer_on_the_way(turn, dialog, module)
        if (reply := await module.on_message(turn)) is not None:
            return reply
        if talk.dialog == "complaint":  # a question at the place step: answered, the place asked again
            return await _answer_on_the_way(turn, dialog, module)
        talk.leave()  # not an answer to what was asked: the message is read as a new one
    if not text:
        name = "unsupported" if inbound.unsupported or inbound.photos or inbound.location else "empty"
        return Reply("info", [Outbound(services.texts.render(name, turn.lang))])
    if dialogs.NOT_SOLVED.search(text) and (ticket_id := await my_tickets.latest_resolved(turn)) is not None:
        return await my_tickets.rate(f"unsolved:{ticket_id}", turn, comment=text)  # "没解决,井盖还是坏的"
    if _bare_number(text):  # a choice typed after its menu is gone, or out of range
        return Reply("info", [Outbound(services.texts.render("stray_number", turn.lang), browse.area_buttons(turn.lang, services))])
    if turn.understanding is not None and turn.understanding.read_as:  # pinyin: a report or opinion kept in Chinese
        text = turn.understanding.read_as
    return await answer_text(text, turn.lang, turn.resident, services, inbound, turn.understanding, turn)


def _asks(turn: Turn, step: dialogs.Step) -> bool:
    """A message phrased as a question, to be answered on the way: one the model answers
    confidently; at a step that takes no free text (photos, phone, confirmation) any question,
    whatever the answer (a choice of topics, "not in the report"), since it cannot be the step's answer."""
    u = turn.understanding
    if u is None or not complaint.is_question(turn.text):
        return False
    return u.kind == "answer" or (step.takes in ("photos", "phone", "confirm")
                                  and u.kind in ("clarify", "fallback", "ticket_status", "greeting"))


async def _answer_on_the_way(turn: Turn, dialog, module) -> Reply:
    """A question asked inside a dialog: answered, then the step asked again (or the dialog ends)."""
    if dialog.on_question == "end":
        turn.talk.leave()
        return await answer_text(turn.text, turn.lang, turn.resident, turn.services, turn.inbound, turn.understanding, turn)
    answered = await answer_text(turn.text, turn.lang, None, turn.services, turn.inbound, turn.understanding)
    if answered.kind == "complaint":  # "what would you like to report?": the open report is what they mean
        return Reply("complaint", module.ask_again(turn), score=100)
    return Reply(answered.kind, [*answered.messages, *module.ask_again(turn)], topic=answered.topic,
                 candidates=answered.candidates, score=answered.score)


def _bare_number(text: str) -> bool:
    text = unicodedata.normalize("NFKC", text).strip().rstrip(".。")
    return text.isdigit() and len(text) <= 3


async def answer_text(text: str, lang: str, resident: Resident | None, services: Services,
                      inbound: Inbound | None = None, understanding: Understanding | None = None,
                      turn: Turn | None = None) -> Reply:
    """Free text: what the model says it means, acted on (recorded only with a `turn`)."""
    texts = services.texts
    u = understanding or services.model.understand(text)
    kind = u.kind
    stored = turn is not None and services.store is not None and resident is not None
    if kind == "emergency":
        return await emergency.reply(text, u.dangers, inbound.channel if inbound else "cli", lang, services)
    if events.WHATS_ON.search(text):
        return await events.whats_on(lang, services)
    if kind != "emergency" and _HUMAN.search(text):  # this assistant is not a person: how to reach one
        return Reply("fallback", [Outbound(texts.render("human", lang))], score=100)
    if kind == "greeting":
        thanks = bool(_THANKS_RE.search(text))
        buttons = () if thanks else browse.area_buttons(lang, services)
        return Reply("greeting", [Outbound(texts.render("greeting", lang, thanks=thanks), buttons)], score=100)
    if kind == "opinion":
        if stored:
            await opinions.save(turn, text)
        return Reply("opinion", [Outbound(texts.render("opinion", lang))], score=100)
    if kind == "complaint":
        if stored:
            return complaint.start(turn, first_text=text)
        # without a database (`ask`): what the resident would see first
        step = "intake_where" if complaint.says_what_happened(text) else "intake_what"
        return Reply("complaint", [Outbound(texts.render(step, lang, pin=False))], score=100)
    if kind == "ticket_status":
        if stored:
            return await my_tickets.list_tickets(lang, resident, services)
        return Reply("ticket_status", [Outbound(texts.render("ticket_status", lang))], score=100)

    if u.elsewhere:  # another district or city: said plainly, no "leave a message" for Tangqiao's office
        return Reply("fallback", [Outbound(texts.render("elsewhere", lang), ((Button(texts.label("menu", lang), "menu"),),))],
                     score=100)
    if kind == "answer":
        reply = await events.with_events(browse.entry_reply(u.topic, lang, services, question=text), u.topic, text, lang, services)
        reply.score = u.score
        return reply
    if kind == "clarify":
        entries = [services.content.entries[c] for c in u.candidates]
        buttons = tuple((Button(e.title.get(lang), f"topic:{e.id}"),) for e in entries)
        text_html = texts.render("clarify", lang, entries=entries)
        return Reply("clarify", [Outbound(text_html, buttons)], candidates=u.candidates, score=u.score)
    return browse.fallback_reply(lang, services, score=u.score, text=text)


async def _on_button(turn: Turn) -> Reply:
    inbound, lang, resident, services, talk = turn.inbound, turn.lang, turn.resident, turn.services, turn.talk
    data = inbound.callback
    kind, _, rest = data.partition(":")
    if resident is None or services.store is None:
        return await browse.on_button(data, lang, resident, services)
    if kind in _MENU_BUTTONS:
        _end_waiting(talk)
    if kind == "ik":
        return await complaint.on_button(data, turn)
    if data == "report":
        return complaint.start(turn)
    if data == "mytickets":
        return await my_tickets.list_tickets(lang, resident, services)
    if kind == "tk":
        return await my_tickets.show(rest, lang, resident, services)
    if kind == "tkadd":
        return await my_tickets.ask_followup(rest, turn)
    if kind in ("rate", "unsolved"):
        return await my_tickets.rate(data, turn)
    if data == "forget:yes":
        talk.gone = True
        return await privacy.forget(inbound, lang, resident, services)
    if data == "forget:no":
        return Reply("cancel", [Outbound(services.texts.render("cancelled", lang))])
    if kind in ("sub", "unsub"):
        return await events.on_button(data, lang, resident, services)
    if kind == "rcskip":
        talk.leave()
        return Reply("info", [Outbound(services.texts.render("feedback", lang, helpful=True))])
    if kind == "leave":
        return opinions.ask(turn)
    if kind == "lang":
        talk.language = rest if rest in browse.LANGUAGES else talk.language
    return await browse.on_button(data, lang, resident, services)


def _end_waiting(talk: Talk) -> None:
    """A command or a menu press ends a waiting state; a report in progress is kept as a draft."""
    if talk.dialog == "complaint":
        talk.park()
    elif talk.dialog is not None:
        talk.leave()


async def _on_command(turn: Turn) -> Reply:
    """A resident's /command, by the table of them (handlers/commands.py)."""
    parsed = commands.parse(turn.inbound.text)
    command = commands.RESIDENT.get(parsed.name)
    stored = turn.services.store is not None and turn.resident is not None
    if stored and (command is None or not command.keeps_dialog):
        _end_waiting(turn.talk)
    if command is None and parsed.name in commands.STAFF:  # a staff command from someone who is not staff
        return Reply("info", [Outbound(turn.services.texts.render("staff_refused", "zh"))])
    if command is None or (command.stored_only and not stored):
        command = commands.RESIDENT["help"]
    return await commands.handler(command)(turn, parsed.argument)
