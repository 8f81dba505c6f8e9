"""The Telegram channel: python-telegram-bot turns updates into `Inbound`s and sends the replies.

What a resident sees, in a private chat with the bot:

- /start, /help, /lang or any text: the router's reply (an answer, the menu, help, ...),
  as HTML messages with inline buttons;
- a photo (its largest size, the caption as text) or a location pin: part of the report
  they are filing, or of a ticket staff asked them about; otherwise the router's reply;
- a sticker, voice message, file, ...: the router's "please type your question";
- pressing a button: the button stops spinning at once, the reply arrives as a new message;
- a reply longer than Telegram's 4096 characters arrives as several messages, the buttons
  under the last one;
- what the office sends later (a staff reply, a status notice with rating buttons) arrives
  through the outbox worker (bot/delivery.py, bot/channels/telegram_outbox.py), retried while
  Telegram refuses it for a moment, at most once (a send a crash interrupted is marked "unsure",
  not sent again);
- a reply Telegram refuses for a moment (a 429, a 5xx) is tried again; one it keeps refusing
  arrives later, through the outbox. A private chat gets at most a message a second, and
  nothing before a 429's retry_after is over (bot/channels/telegram_pacing.py).

What staff see, in the moderation chat (MODERATION_CHAT_ID, a group):

- a card for every new ticket, then its photos: in a forum supergroup each ticket in a topic
  of its own, in an ordinary group as replies to the card;
- replying to any message of ours about a ticket (or writing in its topic) answers the
  resident; /open, /ticket, /status, ... work there, the bot answering in the same topic;
- staff are the members of that chat and the ids in STAFF_IDS (`TelegramStaff`); anyone
  else gets a polite refusal for a staff command, wherever they type it.

Every update is stored before Telegram is told it arrived, and handled again if the process
dies first; one chat's updates are handled one at a time, in order, different chats' at once
(bot/channels/telegram_inbox.py). Other groups and edited messages are ignored. Whoever runs
the bot calls `start_channel` (what a dead process left in the inbox, the command menu); under
long polling post_init does, and starts the process's outbox worker and periodic jobs
(bot/jobs.py), which post_stop / post_shutdown stop; `python -m bot serve` starts its own
(bot/lifecycle.py). Sending: bot/channels/telegram_send.py. All the decisions are in `handlers/`;
this module only translates between Telegram and the router.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    Message,
    Update,
    User,
)
from telegram.constants import MessageAttachmentType
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import metrics
from bot.channels.telegram_inbox import ChatProcessor, Inbox, InboxQueue
from bot.channels.telegram_outbox import TelegramSender, TelegramStaff
from bot.channels.telegram_pacing import ChatPacer
from bot.channels.telegram_send import CHANNEL, NotNow, message_parts, send_patiently
from bot.jobs import Background, export_in_child
from bot.metrics import handle  # the router's handle, counted and timed
from bot.settings import Settings
from bot.startup import build_services, close_services, settle_heap
from db import outbox
from handlers import commands
from handlers.services import Services, StaffDirectory
from handlers.types import Inbound, Outbound, Reply

log = logging.getLogger(__name__)

# Keys of Application.bot_data.
SERVICES = "services"
SETTINGS = "settings"
OWNS_SERVICES = "owns_services"  # True when post_init built the services (and post_shutdown closes them)
BACKGROUND = "background"  # the outbox worker and the periodic jobs post_init started (bot/jobs.py)
DEFERRED = "deferred chats"  # chats with a reply in the outbox: their next replies follow it there

DEFERRED_PURPOSE = "reply-later"  # the outbox rows of a reply Telegram did not take at once
INBOX = "inbox"  # this process's Inbox (bot/channels/telegram_inbox.py)

# Only the updates some handler below uses; add to this list when adding a handler for others.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]

# New messages only: edits are left alone.
_NEW_MESSAGES = filters.UpdateType.MESSAGE
_PRIVATE_MESSAGES = _NEW_MESSAGES & filters.ChatType.PRIVATE
# What the router can use: text (and /commands), photos, location pins.
_USABLE = filters.TEXT | filters.PHOTO | filters.LOCATION


# --------------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------------


async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text or a /command, a photo (the caption is its text) or a location pin, from a resident
    in a private chat or from staff in the moderation chat; they get the router's reply."""
    message = update.message
    await _respond(update, context, _inbound(update, message, text=message.text or message.caption or "",
                                             **message_details(message)))


async def on_unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident sent a sticker, voice message, file, contact, ...

    The router hears what kind it was (and the caption, if any); without a caption it asks
    the resident to type their question instead.
    """
    message = update.message
    inbound = _inbound(update, message, text=message.caption or "", unsupported=attachment_kind(message))
    await _respond(update, context, inbound)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident (or staff, on a card) pressed an inline button: the spinner stops, then the reply
    arrives as a new message."""
    query = update.callback_query
    try:
        await query.answer()
    except TelegramError as error:  # too old (the bot was down), answered already (delivered twice), a 5xx ...
        log.info("could not answer callback query %s: %s", query.id, error.message)  # the reply matters more
    chat = update.effective_chat
    on_card = chat is not None and context.bot_data[SERVICES].tickets.is_moderation_chat(CHANNEL, str(chat.id))  # staff's buttons
    if chat is None or (chat.type != chat.PRIVATE and not on_card) or not query.data:
        return
    await _respond(update, context, _inbound(update, query.message, callback=query.data))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Something went wrong while handling an update: it is logged, and the resident gets an
    apology rather than silence (no details of the error)."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("error while handling update %s", update_id, exc_info=context.error)
    chat = update.effective_chat if isinstance(update, Update) else None
    services = context.bot_data.get(SERVICES)
    if chat is None or chat.type != chat.PRIVATE or services is None:
        return
    user = update.effective_user
    lang = "en" if user and (user.language_code or "").startswith("en") else services.default_language
    try:
        await send_patiently(context.bot, chat.id, Outbound(services.texts.render("error", lang)))
    except Exception:  # noqa: BLE001 - the apology is best effort; the error is logged above
        log.warning("could not send the error notice to chat %s", chat.id)


# --------------------------------------------------------------------------------------------
# Translation between Telegram and the router
# --------------------------------------------------------------------------------------------


def _inbound(update: Update, message: Message | None, **what) -> Inbound:
    user, chat = update.effective_user, update.effective_chat
    user_id, user_name = str(user.id), display_name(user)
    if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
        # an anonymous admin of the group writes as the group itself
        user_id, user_name = str(chat.id), chat.title or "anonymous admin"
    return Inbound(
        channel=CHANNEL,
        user_id=user_id,
        chat_id=str(chat.id),
        language=user.language_code,
        message_id=str(message.message_id) if message is not None else None,
        update_key=str(update.update_id),
        user_name=user_name,
        **what,
    )


def message_details(message: Message) -> dict:
    """The parts of a message the router uses besides its text: the largest size of a photo,
    a location pin, the message it replies to, the forum topic it was written in."""
    details: dict = {}
    if message.photo:
        details["photos"] = (max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0)).file_id,)
    if message.location is not None:
        details["location"] = (message.location.latitude, message.location.longitude)
    if message.reply_to_message is not None:
        replied = message.reply_to_message
        details["reply_to"] = str(replied.message_id)
        if replied.from_user is not None and replied.from_user.is_bot:
            details["reply_text"] = replied.text or replied.caption or ""
    if message.is_topic_message and message.message_thread_id:
        details["thread_id"] = str(message.message_thread_id)
    return details


def display_name(user: User) -> str:
    return f"@{user.username}" if user.username else user.full_name


def attachment_kind(message: Message) -> str:
    """What a message without text carries: "sticker", "voice", "photo", "location", ..."""
    for kind in MessageAttachmentType:  # the order PTB uses: animation before document, ...
        if getattr(message, kind.value, None):
            return kind.value
    return "other"


async def _respond(update: Update, context: ContextTypes.DEFAULT_TYPE, inbound: Inbound) -> None:
    reply = await handle(inbound, context.bot_data[SERVICES])
    chat = update.effective_chat
    if chat.type == chat.PRIVATE:
        await deliver_reply(context, chat.id, reply)
    else:  # the moderation chat: answer in the same topic, quoting the staff member's message
        await deliver_reply(context, chat.id, reply, message_thread_id=int(inbound.thread_id) if inbound.thread_id else None,
                            reply_to=inbound.message_id)


async def deliver_reply(context: ContextTypes.DEFAULT_TYPE, chat_id: int, reply: Reply, *,
                        message_thread_id: int | None = None, reply_to: str | None = None) -> None:
    """Send a handler's reply now, message by message; what Telegram will not take after a few
    tries (a 429 to wait out longer than PATIENCE, 5xx, timeouts) goes to the outbox with the
    rest of the reply, and the chat's next replies follow it there until it is delivered."""
    services: Services = context.bot_data[SERVICES]
    parts = [part for outbound in reply.messages for part in message_parts(outbound)]
    deferred: set[int] = context.bot_data.setdefault(DEFERRED, set())
    if chat_id in deferred:
        if await _still_deferred(services, chat_id):
            await _defer(services, chat_id, parts, reply_to, wait=0.0)
            return
        deferred.discard(chat_id)
    for number, part in enumerate(parts):
        first = reply_to if number == 0 else None
        try:
            await send_patiently(context.bot, chat_id, part, message_thread_id=message_thread_id, reply_to=first)
        except NotNow as later:
            if services.store is None:
                raise
            log.warning("reply to chat %s not delivered (%s): %d message(s) go to the outbox", chat_id, later,
                        len(parts) - number)
            await _defer(services, chat_id, parts[number:], reply_to, later.wait)
            deferred.add(chat_id)
            return


async def _still_deferred(services: Services, chat_id: int) -> bool:
    async with services.store.transaction() as session:
        return await outbox.waiting(session, CHANNEL, chat_id, DEFERRED_PURPOSE)


async def _defer(services: Services, chat_id: int, parts: list[Outbound], reply_to: str | None, wait: float) -> None:
    """The messages of a reply, queued in order (the worker wakes when this commits); the
    first is due in `wait` seconds. In a group each replies to the staff member's message, so
    in a forum it lands in the same topic."""
    due = services.clock() + timedelta(seconds=wait)
    async with services.store.transaction() as session:
        for part in parts:
            row = outbox.enqueue(session, CHANNEL, chat_id, DEFERRED_PURPOSE, part.text, buttons=part.buttons,
                                 reply_to=reply_to)
            row.next_attempt_at = due


# --------------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------------


async def set_commands(bot: Bot, moderation_chat: str | None) -> None:
    """The command menus Telegram shows next to the input field (handlers/commands.py): the
    residents' in every chat, the staff's in the moderation chat; Chinese by default, English for
    apps set to English."""
    scopes = [("private", BotCommandScopeDefault())]
    if moderation_chat is not None:
        scopes.append(("moderation", BotCommandScopeChat(int(moderation_chat))))
    for where, scope in scopes:
        for language in (None, "en"):
            try:
                await bot.set_my_commands([BotCommand(*c) for c in commands.menu(where, language or "zh")],
                                          scope=scope, language_code=language)
            except TelegramError as error:  # the menu is a convenience: the bot works without it
                log.warning("could not set the %s command menu (%s): %s", where, language or "default", error.message)


def telegram_staff(application: Application, settings: Settings) -> StaffDirectory | None:
    """Who is staff for this application: the moderation chat's members and STAFF_IDS; None
    without a moderation chat (build_services then takes STAFF_IDS alone)."""
    if settings.moderation_chat_id is None:
        return None
    return TelegramStaff(application.bot, settings.moderation_chat_id, settings.staff_ids)


def use_services(application: Application, services: Services) -> None:
    """Give the application the services it handles updates with (built with telegram_staff)."""
    application.bot_data[SERVICES] = services
    application.bot_data[INBOX].store, application.bot_data[INBOX].clock = services.store, services.clock


async def start_channel(application: Application) -> None:
    """Telegram's own start, whoever runs the bot: the updates a dead process left in the inbox
    handled again (before any new update: they came first), and the command menu."""
    await application.bot_data[INBOX].replay(application.update_queue, application.bot)
    await set_commands(application.bot, application.bot_data[SERVICES].tickets.moderation_chat)


def replay_inbox(application: Application) -> Callable[[], Awaitable[int]]:
    """The periodic job for bot/jobs.py: updates another process (on PostgreSQL) died with,
    once their lease has passed."""
    return lambda: application.bot_data[INBOX].replay(application.update_queue, application.bot)


def sender(application: Application) -> metrics.CountingSender:
    """The outbox's sender for Telegram, through this application's bot (and rate limiter)."""
    return metrics.CountingSender(CHANNEL, TelegramSender(application.bot, application.bot_data[SERVICES]))


async def _post_init(application: Application) -> None:
    """The long-polling runner's start (run_polling; tests and benchmarks run it by hand): the
    services, unless given, the channel, and the process's background work (bot/jobs.py)."""
    settings: Settings = application.bot_data[SETTINGS]
    if SERVICES not in application.bot_data:
        use_services(application, await build_services(settings, exporter=export_in_child(settings),
                                                       staff=telegram_staff(application, settings)))
        application.bot_data[OWNS_SERVICES] = True
    await start_channel(application)
    background = Background(application.bot_data[SERVICES], settings, {CHANNEL: sender(application)},
                            replay=replay_inbox(application))
    background.start()
    application.bot_data[BACKGROUND] = background
    settle_heap()


async def _post_stop(application: Application) -> None:
    await _stop_background(application)  # while the bot can still send


async def _post_shutdown(application: Application) -> None:
    await _stop_background(application)
    if application.bot_data.pop(OWNS_SERVICES, False):
        await close_services(application.bot_data.pop(SERVICES))


async def _stop_background(application: Application) -> None:
    background: Background | None = application.bot_data.pop(BACKGROUND, None)
    if background is not None:
        await background.stop()


def build_application(settings: Settings, services: Services | None = None,
                      rate_limiter: BaseRateLimiter | None = None) -> Application:
    """The PTB Application with the resident and moderation-chat handlers.

    Without `services` the application builds them in post_init (the moderation chat's members
    as staff: telegram_staff) and closes them in post_shutdown. To share services you build
    (and close yourself), build the application first, then the services with
    `staff=telegram_staff(application, settings)`, and hand them over with use_services.
    post_init also sets the command menu and starts the outbox worker and the periodic jobs
    (bot/jobs.py); it runs under `run_polling`: call `await app.post_init(app)` (and
    `post_stop`, `post_shutdown` at the end) yourself when you run the application by hand.

    `rate_limiter` defaults to AIORateLimiter within Telegram's limits (30 messages a second,
    20 a minute per group); tests pass a faster one. Either way ChatPacer wraps it: one message
    a second to a private chat, nothing to a chat before a 429's retry_after (who tries again
    when is for the reply's sender and the outbox worker to decide).
    """
    if not settings.telegram_bot_token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    if not isinstance(rate_limiter, ChatPacer):  # (a ChatPacer given, at its own pace, is used as it is)
        rate_limiter = ChatPacer(rate_limiter if rate_limiter is not None else AIORateLimiter(max_retries=0))
    inbox = Inbox()
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .rate_limiter(rate_limiter)
        .update_queue(InboxQueue(inbox))  # an update is stored before it is acknowledged
        .job_queue(None)  # the periodic jobs are bot/jobs.py's, whatever the channels
        .concurrent_updates(ChatProcessor(inbox))  # one update at a time per chat, chats concurrently
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
    )
    if settings.telegram_base_url:
        builder = builder.base_url(settings.telegram_base_url)  # PTB appends the token
    application = builder.build()
    application.bot_data[SETTINGS] = settings
    application.bot_data[INBOX] = inbox
    if services is not None:
        use_services(application, services)

    application.add_handler(MessageHandler(_PRIVATE_MESSAGES & _USABLE, on_message))
    application.add_handler(MessageHandler(_PRIVATE_MESSAGES & ~_USABLE & filters.ATTACHMENT, on_unsupported))
    if settings.moderation_chat_id is not None:  # staff: replies to our messages, messages in topics, commands
        moderation = _NEW_MESSAGES & filters.Chat(settings.moderation_chat_id) & ~filters.ChatType.PRIVATE
        application.add_handler(MessageHandler(moderation & (filters.TEXT | filters.PHOTO), on_message))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_error_handler(on_error)
    return application


def run_polling(settings: Settings) -> None:
    """Run the bot with long polling until Ctrl-C (or SIGTERM)."""
    application = build_application(settings)
    log.info("Telegram bot starting (long polling)")
    application.run_polling(allowed_updates=ALLOWED_UPDATES)
