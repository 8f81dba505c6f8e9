"""The Telegram channel: python-telegram-bot turns updates into `Inbound`s and sends the replies.

What a resident sees, in a private chat with the bot:

- /start, /help, /lang or any text: the router's reply (an answer, the menu, help, ...),
  as HTML messages with inline buttons;
- pressing a button: the button stops spinning at once, the reply arrives as a new message;
- a sticker, voice message, photo, location, ...: the router's "please type your question";
- a reply longer than Telegram's 4096 characters arrives as several messages, the buttons
  under the last one.

Group chats and edited messages are ignored for now (staff moderation comes later). All the
decisions are in `handlers/`; this module only translates between Telegram and the router.
"""
from __future__ import annotations

import logging

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import MessageAttachmentType, ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channels.common import TELEGRAM_TEXT_LIMIT, split_text
from bot.services import build_services, close_services
from bot.settings import Settings
from handlers.router import handle
from handlers.services import Services
from handlers.types import Button, Inbound, Outbound, Reply

log = logging.getLogger(__name__)

CHANNEL = "telegram"

# Keys of Application.bot_data.
SERVICES = "services"
SETTINGS = "settings"
OWNS_SERVICES = "owns_services"  # True when post_init built the services (and post_shutdown closes them)

# Only the updates some handler below uses; add to this list when adding a handler for others.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]

# The command menu Telegram shows next to the input field, by the user's app language.
BOT_COMMANDS = {
    None: [("start", "打开分类菜单"), ("help", "使用说明"), ("lang", "切换中文 / English")],
    "en": [("start", "Open the menu"), ("help", "How to use this assistant"), ("lang", "Switch 中文 / English")],
}

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

# New messages in private chats; edits and group chats are left alone.
_PRIVATE_MESSAGES = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE


# --------------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------------


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident typed text or a /command; they get the router's reply."""
    message = update.message
    await _respond(update, context, _inbound(update, message, text=message.text))


async def on_unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident sent a sticker, voice message, photo, file, location, ...

    The router hears what kind it was (and the caption, if any); without a caption it asks
    the resident to type their question instead.
    """
    message = update.message
    inbound = _inbound(update, message, text=message.caption or "", unsupported=attachment_kind(message))
    await _respond(update, context, inbound)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident pressed an inline button: the spinner stops, then the reply arrives as a new message."""
    query = update.callback_query
    await query.answer()
    chat = update.effective_chat
    if chat is None or chat.type != chat.PRIVATE or not query.data:
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
        await context.bot.send_message(chat.id, services.texts.render("error", lang))
    except Exception:  # noqa: BLE001 - the apology is best effort; the error is logged above
        log.warning("could not send the error notice to chat %s", chat.id)


# --------------------------------------------------------------------------------------------
# Translation between Telegram and the router
# --------------------------------------------------------------------------------------------


def _inbound(update: Update, message: Message | None, **what: str | None) -> Inbound:
    user, chat = update.effective_user, update.effective_chat
    return Inbound(
        channel=CHANNEL,
        user_id=str(user.id),
        chat_id=str(chat.id),
        language=user.language_code,
        message_id=str(message.message_id) if message is not None else None,
        **what,
    )


def attachment_kind(message: Message) -> str:
    """What a message without text carries: "sticker", "voice", "photo", "location", ..."""
    for kind in MessageAttachmentType:  # the order PTB uses: animation before document, ...
        if getattr(message, kind.value, None):
            return kind.value
    return "other"


async def _respond(update: Update, context: ContextTypes.DEFAULT_TYPE, inbound: Inbound) -> None:
    reply = await handle(inbound, context.bot_data[SERVICES])
    await send_reply(context.bot, update.effective_chat.id, reply)


async def send_reply(bot: Bot, chat_id: int | str, reply: Reply) -> list[Message]:
    """Send every message of a reply, in order."""
    sent: list[Message] = []
    for outbound in reply.messages:
        sent += await send_outbound(bot, chat_id, outbound)
    return sent


async def send_outbound(bot: Bot, chat_id: int | str, outbound: Outbound) -> list[Message]:
    """Send one Outbound as HTML; a text over 4096 characters goes as several messages,
    the buttons under the last one."""
    chunks = split_text(outbound.text, TELEGRAM_TEXT_LIMIT)
    if not chunks:
        log.warning("not sending a message without text to chat %s", chat_id)
        return []
    markup = inline_keyboard(outbound.buttons)
    sent = []
    for number, chunk in enumerate(chunks, start=1):
        sent.append(
            await bot.send_message(
                chat_id=chat_id,
                text=chunk,
                parse_mode=ParseMode.HTML,
                reply_markup=markup if number == len(chunks) else None,
                link_preview_options=_NO_PREVIEW,
            )
        )
    return sent


def inline_keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    """Rows of Buttons as an inline keyboard whose callback_data is the Button's data."""
    keyboard = [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in rows if row]
    return InlineKeyboardMarkup(keyboard) if keyboard else None


# --------------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------------


async def set_commands(bot: Bot) -> None:
    """The command menu: Chinese by default, English for apps set to English."""
    for language, commands in BOT_COMMANDS.items():
        await bot.set_my_commands([BotCommand(*c) for c in commands], language_code=language)


async def _post_init(application: Application) -> None:
    if SERVICES not in application.bot_data:
        application.bot_data[SERVICES] = await build_services(application.bot_data[SETTINGS])
        application.bot_data[OWNS_SERVICES] = True
    await set_commands(application.bot)


async def _post_shutdown(application: Application) -> None:
    if application.bot_data.pop(OWNS_SERVICES, False):
        await close_services(application.bot_data.pop(SERVICES))


def build_application(settings: Settings, services: Services | None = None) -> Application:
    """The PTB Application with the resident handlers.

    Pass `services` to share ones you built (and close them yourself); without them, the
    application builds them in post_init and closes them in post_shutdown. post_init, which
    also sets the command menu, runs under `run_polling`; call `await app.post_init(app)`
    yourself when you start the application by hand.
    """
    if not settings.telegram_bot_token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        # Keeps within Telegram's flood limits; a reply hit by a 429 anyway waits and is sent again.
        .rate_limiter(AIORateLimiter(max_retries=2))
        .concurrent_updates(True)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if settings.telegram_base_url:
        builder = builder.base_url(settings.telegram_base_url)  # PTB appends the token
    application = builder.build()
    application.bot_data[SETTINGS] = settings
    if services is not None:
        application.bot_data[SERVICES] = services

    application.add_handler(MessageHandler(_PRIVATE_MESSAGES & filters.TEXT, on_text))
    application.add_handler(MessageHandler(_PRIVATE_MESSAGES & ~filters.TEXT & filters.ATTACHMENT, on_unsupported))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_error_handler(on_error)
    return application


def run_polling(settings: Settings) -> None:
    """Run the bot with long polling until Ctrl-C (or SIGTERM)."""
    application = build_application(settings)
    log.info("Telegram bot starting (long polling)")
    application.run_polling(allowed_updates=ALLOWED_UPDATES)
