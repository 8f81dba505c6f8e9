"""The table of chat commands (handlers/commands.py) and everything made from it or checked
against it: the router's dispatch, /help, the README, the WeChat menu's keys. (Telegram's command
menus, made from it, are checked against the fake Bot API in test_telegram_e2e.py.)"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from bot.channels.wechat_menu import COMMANDS as WECHAT_MENU_KEYS
from bot.startup import ListedStaff
from handlers import commands
from handlers.router import handle
from handlers.services import TicketRules
from handlers.types import Inbound

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
MOD, STAFF = "-1001", "7"


def _named_in(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w/<])/([a-z]+)\b", text))


def _paragraph(starting: str) -> str:
    start = README.index(starting)
    return README[start:README.index("\n\n", start)]


def test_the_readme_lists_the_commands_of_the_table():
    assert _named_in(_paragraph("Residents (Telegram, WeChat, console):")) == set(commands.RESIDENT)
    assert _named_in(_paragraph("Staff, in the moderation chat")) == set(commands.STAFF)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_help_names_every_residents_command_and_no_other(core, lang):
    text = core.texts.render("help", lang)
    assert _named_in(text) == set(commands.RESIDENT) - {"help"}  # (it does not name itself)


def test_the_wechat_menu_runs_residents_commands():
    assert all(commands.parse(typed).name in commands.RESIDENT for typed in WECHAT_MENU_KEYS.values())


def test_the_table_is_consistent():
    assert len({c.name for c in commands.COMMANDS}) == len(commands.COMMANDS)
    for command in commands.COMMANDS:
        assert callable(commands.handler(command)), command.name
        assert (command.who, command.where) in (("resident", "private"), ("staff", "moderation")), command.name
        assert bool(command.zh) == bool(command.en), command.name  # a menu entry in both languages, or none
        assert command.who == "resident" or command.usage.startswith(f"/{command.name}"), command.name
        assert re.fullmatch(r"[a-z]{1,32}", command.name) and len(command.zh) <= 256 and len(command.en) <= 256
    assert commands.menu("private", "en")[0] == ("start", "Open the menu")


def test_a_command_is_parsed_once_for_everyone():
    assert commands.parse("/Start@TangqiaoBot  hello ") == ("start", "hello")
    assert commands.parse("/status 42 resolved 已修好") == ("status", "42 resolved 已修好")
    assert commands.parse("hello /start") is None
    assert commands.is_staff_command("/open@bot") and not commands.is_staff_command("/opening")


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_every_residents_command_is_answered_by_its_own_function(services, lang):
    """Through the real router and database: no command of the table gets the help text (but /help)."""
    async def say(text: str) -> str:
        return (await handle(Inbound("console", "5", "5", text=text, language=lang), services)).messages[0].text

    help_text = await say("/help")
    assert help_text == services.texts.render("help", lang) and await say("/nosuchcommand") == help_text
    for name in commands.RESIDENT.keys() - {"help"}:
        assert await say(f"/{name}") != help_text, name


async def test_staff_commands_are_refused_to_residents_and_answered_for_staff(services):
    office = replace(services, tickets=TicketRules(moderation_chat=MOD), staff=ListedStaff(frozenset({int(STAFF)})))
    refused = office.texts.render("staff_refused", "zh")
    for name, command in commands.STAFF.items():
        by_resident = await handle(Inbound("telegram", "r1", "r1", text=f"/{name}"), office)
        assert by_resident.messages[0].text == refused, name
        by_staff = await handle(Inbound("telegram", STAFF, MOD, text=f"/{name}", user_name="@wang"), office)
        assert by_staff.messages and by_staff.messages[0].text != refused, name
        if command.usage.split()[1:2] == ["N"]:  # about a ticket: without its number, how the command is written
            assert command.usage.split()[0] in by_staff.messages[0].text, name
