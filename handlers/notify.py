"""Messages that leave through the outbox: ticket cards and notes to the moderation chat and the
office's WeCom group, the assignee's private message, staff replies and status notices to
residents. Each is written in the caller's transaction, so it exists exactly when the change that
caused it does; bot/delivery.py delivers it."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from db import accounts, conversations, outbox
from db.models import Resident, Ticket
from db.tickets import photos
from handlers.masking import mask_text
from handlers.services import Services
from handlers.types import Button, plain_text

if TYPE_CHECKING:
    from db.store import Session


def to_staff(session: Session, services: Services, ticket: Ticket, purpose: str, text: str,
             photo: str | None = None, buttons: tuple[tuple[Button, ...], ...] = ()) -> None:
    """A message about `ticket` for the moderation chat (under its card / in its topic). The chat
    is on Telegram's servers, outside China: phone and ID numbers are masked in every message, and
    with CHAT_CARDS=minimal the resident's words, place and photos stay out of it altogether
    (number, category, area and a link to the console instead)."""
    rules = services.tickets
    if rules.moderation_chat is None:
        return  # no moderation chat configured: staff read tickets with /open instead
    if rules.chat_cards == "minimal" and purpose != "alert":  # an emergency's alert says what is burning
        if photo is not None:
            return
        text = services.texts.render("staff_minimal", "zh", ticket=ticket, what=purpose, console_url=rules.console_url,
                                     category=services.categories.title(ticket.category, "zh"))
    text = mask_text(text)
    outbox.enqueue(session, rules.moderation_channel, rules.moderation_chat, purpose, text, photo=photo,
                   ticket_id=ticket.id, buttons=buttons)


def to_office(session: Session, services: Services, what: str, ticket: Ticket | None = None, **values) -> None:
    """A line for the office's WeCom (企业微信) group when WECOM_ROBOT_URL is set: a new ticket
    ("card"), a chase, an assignment, an emergency ("alert"). It reaches staff without Telegram,
    inside China, and still carries no personal data: number, category, area, a console link."""
    rules = services.tickets
    if not rules.office_robot:
        return
    category = services.categories.title(ticket.category, "zh") if ticket is not None else ""
    text = services.texts.render("office_robot", "zh", what=what, ticket=ticket, category=category,
                                 console_url=rules.console_url, **values)
    outbox.to_office_robot(session, what, mask_text(plain_text(text)), ticket_id=ticket.id if ticket is not None else None)


async def assigned(session: Session, services: Services, ticket: Ticket, name: str, actor: str) -> None:
    """Tell the member a ticket is now theirs: the office's WeCom group, and a private message on
    Telegram when their console account is linked to a Telegram user (not when they took it
    themselves). The console's "mine" view and live notice read the ticket itself."""
    to_office(session, services, "assigned", ticket, assignee=name)
    rules = services.tickets
    account = await accounts.by_name(session, name.removeprefix("@"))
    if rules.staff_direct is None or account is None or account.disabled or not account.telegram_user_id:
        return
    if actor == f"web:{account.name}" or actor.partition(" ")[0] == f"staff:{account.telegram_user_id}":
        return
    by = actor.removeprefix("web:") if actor.startswith("web:") else actor.partition(" ")[2]
    lang = account.language if account.language in ("zh", "en") else "zh"
    text = services.texts.render("staff_assigned", lang, ticket=ticket, by=by, text=mask_text(ticket.text)[:200],
                                 category=services.categories.title(ticket.category, lang),
                                 minimal=rules.chat_cards == "minimal", console_url=rules.console_url)
    outbox.to_staff_member(session, rules.staff_direct, account.telegram_user_id, mask_text(text), ticket_id=ticket.id)


def card(session: Session, services: Services, ticket: Ticket, likely_duplicate: Ticket | None = None) -> None:
    """The new ticket's card, then its photos, for the moderation chat (and a line for the
    office's WeCom group). A likely duplicate of an open ticket says so on its card, with a
    button to merge it (staff decide, not the bot)."""
    to_office(session, services, "card", ticket)
    texts = services.texts
    pictures = photos(ticket)
    buttons = ()
    if likely_duplicate is not None:
        buttons = ((Button(f"确认与 {likely_duplicate.number} 重复,合并", f"dup:{ticket.id}:{likely_duplicate.id}"),),)
    to_staff(session, services, ticket, "card", texts.render(
        "staff_card", "zh", ticket=ticket, category=services.categories.title(ticket.category, "zh"),
        photo_count=len(pictures), photos_below=ticket.channel == services.tickets.moderation_channel,
        older=likely_duplicate), buttons=buttons)
    if ticket.channel != services.tickets.moderation_channel:
        return  # another channel's photo ids mean nothing there: staff see them in the console
    for number, file_id in enumerate(pictures, start=1):
        to_staff(session, services, ticket, "photo", f"{ticket.number} 照片{number}", photo=file_id)


def blank_card(session: Session, services: Services, ticket: Ticket) -> None:
    """The card posted in the moderation chat, edited to its number and category (the resident
    asked to be forgotten: their words and place leave Telegram's servers too)."""
    rules = services.tickets
    if rules.moderation_chat is None or ticket.card_message_id is None:
        return
    text = services.texts.render("staff_minimal", "zh", ticket=ticket, what="forgotten", console_url=rules.console_url,
                                 category=services.categories.title(ticket.category, "zh"))
    outbox.enqueue_edit(session, rules.moderation_channel, rules.moderation_chat, ticket.card_message_id, text,
                        ticket_id=ticket.id)


def to_resident(session: Session, services: Services, ticket: Ticket, resident: Resident, purpose: str,
                text: str, buttons: tuple[tuple[Button, ...], ...] = (), photo: str | None = None) -> bool:
    """A message for the ticket's resident; False (and nothing queued) when they blocked us."""
    if ticket.resident_blocked:
        return False
    outbox.enqueue(session, ticket.channel, ticket.chat_id, purpose, text, buttons=buttons, photo=photo,
                   ticket_id=ticket.id)
    return True


def rating_buttons(services: Services, ticket: Ticket, lang: str) -> tuple[tuple[Button, ...], ...]:
    stars = tuple(Button(f"{n}★", f"rate:{ticket.id}:{n}") for n in range(1, 6))
    return stars, (Button(services.texts.label("not_solved", lang), f"unsolved:{ticket.id}"),)


async def language(session: Session, services: Services, ticket: Ticket, resident: Resident) -> str:
    """The language to write to the ticket's resident in: their /lang choice, else the one they write in."""
    return resident.language or await conversations.language_of(
        session, ticket.channel, ticket.chat_id, resident.user_id) or services.default_language


# words that name a refusal without giving its reason ("/status 5 rejected 驳回")
_NO_REASON = re.compile(r"^[\s,，。.!！:：;；、\-_()（）]*"
                        r"(?:不予受理|不受理|驳回|拒绝|退回|无效|不处理|rejected|reject|not accepted|no|none|无|—)?"
                        r"[\s,，。.!！:：;；、\-_()（）]*$", re.IGNORECASE)


def gives_reason(note: str) -> bool:
    """Staff said why (a refusal must: the resident is told it); a status word alone is no reason."""
    return not _NO_REASON.match(note or "")


async def status_notice(session: Session, services: Services, ticket: Ticket, resident: Resident, note: str) -> None:
    """Tell the resident their ticket changed status (with the rating question once resolved); a
    staff member waiting for their answer on it waits no more."""
    lang = await language(session, services, ticket, resident)
    await waiting_over(session, ticket, resident)
    buttons = rating_buttons(services, ticket, lang) if ticket.status == "resolved" else ()
    text = services.texts.render("status_notice", lang, ticket=ticket, note=note,
                                 reason=ticket.status != "rejected" or gives_reason(note))
    to_resident(session, services, ticket, resident, "status", text, buttons)


async def waiting_for_answer(session: Session, services: Services, ticket: Ticket, resident: Resident) -> None:
    """Staff asked the resident something on `ticket`: their next message that answers it joins the
    ticket (the "reply" dialog of handlers/dialogs.py), unless they are in another dialog."""
    talk = await conversations.read(session, ticket.channel, ticket.chat_id, resident.user_id)
    if talk.dialog in (None, "reply"):
        talk.enter("reply", "answer", ticket=ticket.id)
        talk.updated_at = services.clock()  # the wait counts from the reply
        await conversations.write(session, talk)


async def waiting_over(session: Session, ticket: Ticket, resident: Resident) -> None:
    talk = await conversations.read(session, ticket.channel, ticket.chat_id, resident.user_id)
    if talk.dialog == "reply" and talk.filled.get("ticket") == ticket.id:
        talk.leave()
        await conversations.write(session, talk)
