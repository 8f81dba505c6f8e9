"""The offline console chat: the same handlers, buttons shown as numbered choices.

Used by `python -m bot chat` (and `make run` without a Telegram token). Type a question, a
/command, or the number of a choice; Ctrl-D (end of input) ends the chat, an empty line is ignored.
"""
from __future__ import annotations

import asyncio
import sys

from bot.channels.common import choice_number, numbered, picked
from bot.settings import Settings
from handlers.router import handle
from handlers.services import Services
from handlers.types import Button, Inbound

USER_ID = "console"


async def chat(services: Services, stdin=sys.stdin, stdout=sys.stdout) -> None:
    choices: list[Button] = []

    async def say(inbound: Inbound) -> None:
        nonlocal choices
        text, choices = numbered((await handle(inbound, services)).messages, indent="  ")
        print(text + "\n", file=stdout, flush=True)

    await say(Inbound("console", USER_ID, USER_ID, text="/start"))
    loop = asyncio.get_running_loop()
    while True:
        print("> ", end="", file=stdout, flush=True)
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            break
        line = line.strip()
        if (button := picked(line, choices)) is not None:
            await say(Inbound("console", USER_ID, USER_ID, callback=button.data))
        elif choices and choice_number(line) is not None:  # "99" of six choices
            print(services.texts.render("pick_range", services.default_language, count=len(choices)) + "\n",
                  file=stdout, flush=True)
        elif line:
            await say(Inbound("console", USER_ID, USER_ID, text=line))


async def run_console(settings: Settings) -> None:
    from bot.jobs import export_in_child
    from bot.startup import build_services, close_services

    services = await build_services(settings, exporter=export_in_child(settings))
    print(f"塘桥街道居民服务助手 · offline console (database: {settings.database_shown}). Ctrl-D to quit.\n")
    try:
        await chat(services)
    finally:
        await close_services(services)
