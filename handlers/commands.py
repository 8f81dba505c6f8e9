"""Every chat command, in one table: its name, who may use it and where, what Telegram's command
menu says of it, and the function that answers it.

The router dispatches by this table (handlers/router.py for residents, handlers/staff.py for
staff); Telegram's command menus are made from it (bot/channels/telegram.py: residents' for every
chat, staff's for the moderation chat); /help (content/templates/help.j2), the README's lists and
the WeChat menu's keys are checked against it (tests/test_commands.py). A new command is a new
line here and its function; a command of neither list gets the help text.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Command:
    name: str
    who: str  # "resident" (anyone), or "staff" (members of the moderation chat and STAFF_IDS)
    where: str  # where it is meant, and Telegram's menu offers it: "private" (a resident's chat with the
    # bot) or "moderation" (the staff's group; staff may also write them to the bot directly)
    handler: str  # "module:function", imported at its first use (the staff's bring the database layer)
    zh: str = ""  # what Telegram's menu says of it; "" for a command the menu leaves out
    en: str = ""
    usage: str = ""  # staff: how it is written, shown when it is written otherwise
    stored_only: bool = False  # resident: needs the resident's record (`ask`, with no database, answers help)
    keeps_dialog: bool = False  # resident: leaves a report or a waiting state as it is (others end it)


_R, _S = "handlers.resident_commands", "handlers.staff"

COMMANDS: tuple[Command, ...] = (
    Command("start", "resident", "private", f"{_R}:start", "打开分类菜单", "Open the menu"),
    Command("menu", "resident", "private", f"{_R}:menu"),
    Command("report", "resident", "private", f"{_R}:report", "反映身边的问题", "Report a problem"),
    Command("mytickets", "resident", "private", f"{_R}:list_my_tickets", "我反映的问题和进展", "My reports and their progress",
            stored_only=True),
    Command("opinion", "resident", "private", f"{_R}:opinion", "给街道提建议", "Leave a suggestion", keeps_dialog=True),
    Command("events", "resident", "private", f"{_R}:whats_on", "近期活动", "What's on"),
    Command("subscribe", "resident", "private", f"{_R}:subscribe", "订阅活动通知", "Get the office's notices",
            stored_only=True),
    Command("unsubscribe", "resident", "private", f"{_R}:unsubscribe", "退订活动通知", "Stop the notices", stored_only=True),
    Command("help", "resident", "private", f"{_R}:help", "使用说明", "How to use this assistant"),
    Command("lang", "resident", "private", f"{_R}:lang", "切换中文 / English", "Switch 中文 / English"),
    Command("cancel", "resident", "private", f"{_R}:cancel", keeps_dialog=True),
    Command("forgetme", "resident", "private", f"{_R}:forget_me", stored_only=True),

    Command("open", "staff", "moderation", f"{_S}:open_tickets", "待处理的工单", "Open tickets", usage="/open"),
    Command("ticket", "staff", "moderation", f"{_S}:show", "工单详情和记录", "A ticket and its history", usage="/ticket N"),
    Command("assign", "staff", "moderation", f"{_S}:assign_command", "指定处理人", "Who handles a ticket",
            usage="/assign N @name"),
    Command("status", "staff", "moderation", f"{_S}:status_command", "更改状态(说明发给居民)",
            "Change a status (the note goes to the resident)",
            usage="/status N acknowledged|in_progress|resolved|rejected 说明"),
    Command("note", "staff", "moderation", f"{_S}:note_command", "内部备注", "An internal note", usage="/note N 内部备注"),
    Command("dup", "staff", "moderation", f"{_S}:dup_command", "合并重复工单", "Merge a duplicate", usage="/dup N M"),
    Command("reopen", "staff", "moderation", f"{_S}:reopen_command", "重新打开工单", "Reopen a ticket", usage="/reopen N"),
    Command("category", "staff", "moderation", f"{_S}:category_command", "更改类别", "Change the category",
            usage="/category N 类别"),
    Command("reply", "staff", "moderation", f"{_S}:canned_command", "发送模板答复", "Send a canned reply",
            usage="/reply N 模板名"),
    Command("stats", "staff", "moderation", f"{_S}:stats", "统计和超时工单", "Figures and overdue tickets", usage="/stats"),
    Command("export", "staff", "moderation", f"{_S}:export", "导出(默认上周)", "The export (last week by default)",
            usage="/export [开始日期 结束日期]"),
    Command("event", "staff", "moderation", f"{_S}:event", "发布和管理活动", "Publish and manage events",
            usage="/event | /event list|status N|publish N|withdraw N"),
)
RESIDENT = {c.name: c for c in COMMANDS if c.who == "resident"}
STAFF = {c.name: c for c in COMMANDS if c.who == "staff"}


class Parsed(NamedTuple):
    name: str  # lower case, without the bot's name: "/Start@TangqiaoBot x" -> "start"
    argument: str  # the rest, stripped


def parse(text: str) -> Parsed | None:
    """A /command and its argument; None for a message that is not one."""
    if not text.startswith("/"):
        return None
    head, _, argument = text[1:].partition(" ")
    return Parsed(head.split("@", 1)[0].lower(), argument.strip())


def is_staff_command(text: str) -> bool:
    return (parsed := parse(text)) is not None and parsed.name in STAFF


def menu(where: str, lang: str) -> list[tuple[str, str]]:
    """Telegram's command menu of `where`, in `lang`: (command, description), in the table's order."""
    return [(c.name, c.en if lang == "en" else c.zh) for c in COMMANDS if c.where == where and c.zh]


_handlers: dict[str, Callable] = {}


def handler(command: Command) -> Callable:
    """The function that answers `command` (resident: `(turn, argument)`, staff: `(inbound, args, services)`)."""
    if (found := _handlers.get(command.handler)) is None:
        module, _, function = command.handler.partition(":")
        found = _handlers[command.handler] = getattr(importlib.import_module(module), function)
    return found
