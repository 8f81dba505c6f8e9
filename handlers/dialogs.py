"""Every dialog of the bot, in one table: its steps, what each step takes, the words that skip,
cancel or correct (Chinese, Shanghainese, English), and how long it waits.

In the spirit of python-telegram-bot's ConversationHandler and aiogram's FSM: the state is one
record per (channel, chat, user) (db/conversations.py), the table says what each state accepts,
and the router (handlers/router.py) only asks it. A new dialog is a new line of DIALOGS and a
module that handles its steps; the router is not touched.

What the router does with a message while a dialog waits, in this order: a bare control word of
the step (skip, done, submit, cancel) acts at once, even before the emergency check ("不留了" at
the phone step is no emergency); an emergency is answered; a correction of an earlier field
changes that field; a confident question is answered and the step asked again; anything else is
the step's answer. A dialog left longer than its `timeout` lapses: a waiting state is forgotten,
a report left half-way is kept as a draft the resident is offered to finish.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from content.model import Understanding
    from db.conversations import Talk
    from db.models import Resident
    from handlers.services import Services
    from handlers.types import Inbound


@dataclass(frozen=True)
class Step:
    name: str
    takes: str  # "text" (free text), "place", "photos", "phone", "confirm", "choice"
    skip: str | None = None  # the step a skip word goes to; None: the step cannot be skipped
    what: str = ""  # what the resident sees (the template asked)
    questions: bool = True  # a confident question here is answered (False: it is the step's answer)


@dataclass(frozen=True)
class Dialog:
    name: str
    handler: str  # the module with on_message(turn) (None: not an answer to the step) and ask_again(turn)
    steps: tuple[Step, ...]
    timeout: timedelta
    lapse: str = "forget"  # "forget": the wait is over; "draft": kept, offered to finish next time
    on_question: str = "ask_again"  # a question on the way: answered, then "ask_again" or "end" the dialog
    staff: bool = False  # a staff member's dialog (the moderation chat)

    def step(self, name: str | None) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)


DIALOGS: dict[str, Dialog] = {d.name: d for d in (
    # a report: handlers/complaint.py
    Dialog("complaint", "handlers.complaint", (
        Step("what", "text", what="intake_what: 请描述问题"),  # "为什么路灯一直不修?" is read as a complaint, so kept
        Step("where", "place", what="intake_where: 问题在哪里"),
        Step("photos", "photos", skip="phone", what="intake_photos: 发照片,或跳过"),
        Step("phone", "phone", skip="confirm", what="intake_phone: 留电话(同意只用于本次),或跳过"),
        Step("confirm", "confirm", what="intake_confirm: 摘要,提交 / 改描述 / 改地点 / 取消"),
        Step("edit_what", "text", what="intake_what: 新的描述,然后回到摘要", questions=False),
        Step("edit_where", "place", what="intake_where: 新的地点,然后回到摘要"),
    ), timeout=timedelta(minutes=60), lapse="draft"),
    # a rating's comment, after the stars: handlers/my_tickets.py
    Dialog("rating", "handlers.my_tickets", (Step("comment", "text", what="rating_thanks: 谢谢评价,还想说什么?"),),
           timeout=timedelta(minutes=30)),
    # "leave a message" after an answer that did not help: handlers/router.py (an opinion)
    Dialog("message", "handlers.opinions", (Step("text", "text", what="leave_prompt: 请写下您的意见"),),
           timeout=timedelta(minutes=30)),
    # "add information" to one of their tickets: handlers/my_tickets.py
    Dialog("followup", "handlers.my_tickets", (Step("text", "text", what="followup_prompt: 请补充(文字或照片)"),),
           timeout=timedelta(minutes=30)),
    # staff replied on a ticket: the resident's answer to it joins the ticket (handlers/my_tickets.py);
    # a message that is not an answer (a new question, a greeting) ends the wait
    Dialog("reply", "handlers.my_tickets", (Step("answer", "text", what="staff_reply: 街道办答复"),),
           timeout=timedelta(hours=24), on_question="end"),
    # a staff member's new event in the moderation chat: handlers/staff_events.py
    Dialog("event", "handlers.staff_events", (
        Step("topic", "choice", what="ask_topic"), Step("title", "text", what="ask_title"),
        Step("start", "text", what="ask_start"), Step("place", "text", what="ask_place"),
        Step("details", "text", what="ask_details"), Step("confirm", "choice", what="confirm"),
    ), timeout=timedelta(minutes=30), staff=True),
)}

# -- the words ---------------------------------------------------------------------------------
# Whole short messages (punctuation and "了/吧/的/啦" aside): a longer message that contains
# one of these words is read as what it says, not as a control word.
_END = r"[\s,，。.!！~～、…]*"
_PART = r"(?:了|吧|的|啦|呀|哦|额|呢|嘛|哈)?"
_NOT_ANY_MORE = r"(?:我)?(?:不想|不要|不|覅|勿要|不用)(?:再)?(?:投诉|反映|举报|报修|报|弄|提交|填|写)(?:了)?"
CANCEL = re.compile(
    r"^(?:好吧|哦|那|嗯|唉)?[\s,，]*(?:算了|取消|不弄了|不要了|撤回|撤销|覅弄了|勿要弄了)"
    rf"(?:[\s,，。!！]*(?:{_NOT_ANY_MORE}|吧|了|不用了))*" + _END + "$"
    rf"|^(?:算了|好吧)?[\s,，]*{_NOT_ANY_MORE}" + _END + "$"
    r"|^(?:ok,?\s*)?(?:never\s*mind|forget\s*it|cancel(?:\s+(?:it|that|the report))?|stop|i\s+changed\s+my\s+mind"
    r"|i\s+don'?t\s+want\s+to\s+(?:report|complain)(?:\s+any\s*more)?|don'?t\s+(?:want\s+to\s+)?(?:report|complain|bother))\b",
    re.IGNORECASE)
SKIP = re.compile(
    r"^(?:算了|好吧|嗯|那|哦|这个|照片|电话)?[\s,，]*(?:就)?(?:跳过|没有|没|无|照片没有|没有照片|不发了|不发照片|不发|不用|不要|不需要|不必|不留|不拍|没拍|没照片|没有照片|没拍照片|没有照片的|没照|没拍照|冇|覅|勿要|"
    r"没得|没有了|木有|不了|不用留|不留电话|电话不留|不留了|不用了|不要了|不方便|算了不留(?:电话)?|不用留电话|"
    r"不想留|不想留电话|不用打电话|没事了?[,，\s]*不用(?:打电话|联系)(?:给我)?|不用(?:打电话|联系)(?:给我|我)?)"
    + _PART + _END + "$"
    r"|^(?:skip|no|none|nope|no\s+photos?|no\s+pictures?|no\s+phone|no\s+number|no\s+thanks|not\s+now|pass|n/a"
    r"|i\s+don'?t\s+have\s+(?:one|any|a\s+photo)|no\s+need)\b",
    re.IGNORECASE)
SUBMIT = re.compile(
    r"^(?:对|对的|对额|是的|是|嗯|好|好的|好额|可以|没问题|没错|确认|确定|就这样)?[\s,，。!！]*"
    r"(?:提交|确认提交|确认|确定|发送|发吧|交吧|提交吧|可以提交|对|对的|对额|是的|没问题|没有问题|没错|好的|好额|好个|可以|就这样|嗯|行|交关好|老好)"
    + _PART + _END + "$"
    r"|^(?:yes|yep|yeah|ok|okay|sure|right|correct)?[\s,!.]*(?:please\s+)?(?:submit|send|confirm|go\s+ahead)"
    r"(?:\s+(?:it|this|that|please|now))*[\s.!]*$"
    r"|^(?:yes|yep|yeah|ok|okay|sure|right|correct|that'?s\s+right|looks\s+good|all\s+good)"
    r"(?:[\s,!.]+(?:please|thanks|thank\s+you|that'?s\s+right|it\s+is|correct|looks\s+good))*[\s.!]*$",
    re.IGNORECASE)
DONE = re.compile(r"^(?:好了|好|就这些|就这样|没有了|发完了|完成|完了)" + _PART + _END + "$|^(?:done|that'?s all|finished)\b",
                  re.IGNORECASE)
# "不对,是5号楼不是3号楼", "等等,问题描述我要改一下", "sorry, it's building 5", "I want to change the description"
CORRECTION = re.compile(r"不对|搞错|错了|写错|说错|更正|改一下|要改|改成|修改|应该是|不是.{1,12}是|是.{1,12}不是|等等|等一下|"
                        r"\b(?:sorry|actually|i\s+mean|wrong|correction|change|edit)\b", re.IGNORECASE)
ABOUT_TEXT = re.compile(r"问题|描述|内容|说明|情况|description|problem|what\s+happened|text", re.IGNORECASE)
# a resolved ticket's resident saying it is not: the "not solved" button in words
NOT_SOLVED = re.compile(r"没(有)?解决|没(有)?修好|没(有)?弄好|还是(坏|不行|没好|老样子|一样|漏|不亮)|根本没(修|弄|处理|人来)|问题还在|"
                        r"\b(not (fixed|solved|resolved|sorted)|still (broken|not working|the same|leaking))\b", re.IGNORECASE)
# a resolved ticket's resident saying they are content: the top rating in words ("很满意,谢谢你们",
# "挺好的", "修好了,谢谢师傅", "very satisfied", "all fixed, thanks"); the whole message says only that
_CONTENT = (r"(?:很|非常|挺|蛮|十分|特别|老|交关)?满意|(?:挺|很|蛮|老|非常|交关)(?:好|不错)(?:的|额|个)?|不错(?:的)?"
            r"|好评|五星|5星|满分|五分|5分"
            r"|(?:已经|都)?(?:修|弄|处理|搞|解决)(?:好|掉)?了|搞定了|没问题了|点(?:个)?赞"
            r"|(?:very|really|totally|quite|so)?\s*(?:satisfied|happy|pleased|good|great|excellent|perfect)"
            r"|all\s+(?:fixed|good|sorted)|(?:it'?s\s+)?(?:fixed|sorted|solved|working)(?:\s+now|\s+again)?"
            r"|5\s+stars|five\s+stars"
            r"|(?:well|nicely)\s+done|good\s+job|great\s+job")
_CONTENT_POLITE = (r"谢谢(?:你们|你|侬|您|师傅|街道)?|多谢(?:侬|你们)?|感谢(?:你们|街道)?|辛苦(?:了|你们了|师傅了)"
                   r"|师傅|你们|啦|了|呀|哦|噢|额"
                   r"|thank(?:s| you)(?:\s+(?:so|very)\s+much)?|cheers|everyone|guys")
SATISFIED = re.compile(rf"^(?:(?:{_CONTENT})[\s,，。.!！~～、]*)+(?:(?:{_CONTENT_POLITE}|{_CONTENT})[\s,，。.!！~～、]*)*$"
                       rf"|^(?:(?:{_CONTENT_POLITE})[\s,，。.!！~～、]*)+(?:(?:{_CONTENT})[\s,，。.!！~～、]*)+"
                       rf"(?:(?:{_CONTENT_POLITE}|{_CONTENT})[\s,，。.!！~～、]*)*$", re.IGNORECASE)
ABOUT_PLACE = re.compile(r"地点|地址|位置|地方|place|address|location|where", re.IGNORECASE)


def is_cancel(text: str) -> bool:
    return bool(CANCEL.search(text.strip()))


# a short message declining (a photo, a phone number) in other words: "手机号就不留了", "覅拍照片",
# "I'd rather not give my number"
DECLINE = re.compile(r"不留|不用留|不想留|不方便|不给|不发|不拍|没拍|没有|没照|覅|勿要|不用了|不需要|不必|"
                     r"rather\s+not|prefer\s+not|don'?t\s+want|no\s+need|not\s+necessary|without|no\s+thanks", re.IGNORECASE)


_ASKS = re.compile(r"[?？]|吗|呢|伐|怎么|什么|哪|多少|有没有|能不能|可不可以|是不是"
                   r"|\b(?:how|what|where|when|why|which|is|are|can|could|do|does)\b", re.IGNORECASE)


def is_skip(text: str) -> bool:
    text = text.strip()
    if SKIP.search(text):
        return True
    return (len(text) <= 30 and not any(c.isdigit() for c in text) and not _ASKS.search(text)
            and bool(DECLINE.search(text)))


def is_submit(text: str) -> bool:
    return bool(SUBMIT.search(text.strip()))


def is_done(text: str) -> bool:
    return bool(DONE.search(text.strip()))


def is_correction(text: str) -> bool:
    return bool(CORRECTION.search(text))


def lapsed(dialog: str | None, updated_at: datetime | None, now: datetime) -> bool:
    """The dialog waited longer than its timeout since the last message."""
    if dialog is None or updated_at is None or dialog not in DIALOGS:
        return dialog is not None and dialog not in DIALOGS
    return now - updated_at > DIALOGS[dialog].timeout


@dataclass
class Turn:
    """One update being handled: who, in which conversation, and how the message was understood."""

    inbound: Inbound
    lang: str
    resident: Resident
    talk: Talk
    services: Services
    understanding: Understanding | None = None

    @property
    def text(self) -> str:
        return self.inbound.text.strip()
