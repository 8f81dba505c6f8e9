"""The keys of what the web application (bot/web.py) holds, for its routes and the staff console's."""
from __future__ import annotations

from aiohttp import web

from bot.settings import Settings
from handlers.services import Services

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
TELEGRAM = web.AppKey("telegram", object)  # the PTB Application, or None
WECHAT = web.AppKey("wechat", object)  # the WeChatChannel, or None
