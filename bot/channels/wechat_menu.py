"""The Official Account's menu: read from content/wechat_menu.yaml, checked as WeChat checks it,
published with `python -m bot wechat menu` (menu/create). Each entry is a `click` button whose
key is a command of the bot (COMMANDS); a tap arrives as a CLICK event with that key and runs
the same handler as the typed command (wechat_xml.to_inbound)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MENU_FILE = Path(__file__).resolve().parents[2] / "content" / "wechat_menu.yaml"
COMMANDS = {  # a menu key -> what the resident would type
    "ask": "/menu",
    "report": "/report",
    "mytickets": "/mytickets",
    "events": "/events",
    "subscribe": "/subscribe",
    "language": "/lang",
}
TOP, SUB = 3, 5  # buttons on the bar, under one button
TOP_BYTES, SUB_BYTES = 16, 60  # UTF-8 bytes of a name


class MenuError(ValueError):
    """The menu file is not a menu WeChat would take; the message says where, in one line."""


def load_menu(path: Path = MENU_FILE) -> dict[str, Any]:
    """The menu/create payload for the file's menu."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MenuError(f"{path}: {exc}".splitlines()[0]) from None
    buttons = data.get("buttons") if isinstance(data, dict) else None
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= TOP:
        raise MenuError(f"{path}: 'buttons' must list 1 to {TOP} buttons")
    return {"button": [_button(b, f"{path}: button {n}", TOP_BYTES, top=True) for n, b in enumerate(buttons, 1)]}


def _button(entry: Any, where: str, limit: int, top: bool) -> dict[str, Any]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
        raise MenuError(f"{where}: a button needs a name")
    name = entry["name"].strip()
    if len(name.encode("utf-8")) > limit:
        raise MenuError(f"{where}: the name {name!r} is over {limit} bytes (WeChat's limit)")
    if top and "sub" in entry:
        subs = entry["sub"]
        if not isinstance(subs, list) or not 1 <= len(subs) <= SUB:
            raise MenuError(f"{where} ({name}): 'sub' must list 1 to {SUB} buttons")
        return {"name": name, "sub_button": [_button(s, f"{where}.{n}", SUB_BYTES, top=False)
                                             for n, s in enumerate(subs, 1)]}
    command = entry.get("command")
    if command not in COMMANDS:
        raise MenuError(f"{where} ({name}): 'command' must be one of {', '.join(COMMANDS)}, got {command!r}")
    return {"type": "click", "name": name, "key": command}


async def publish(api, path: Path = MENU_FILE) -> dict[str, Any]:
    """Check the file's menu, then publish it; the payload published."""
    payload = load_menu(path)
    await api.call("/cgi-bin/menu/create", payload)
    return payload


def main(settings, args) -> int:
    """`python -m bot wechat menu [--file PATH] [--check]`: one line saying what was done."""
    import asyncio
    import sys

    from bot.channels.wechat_api import WeChatApi, WeChatApiError, WeChatUnavailable

    path = Path(args.file) if args.file else MENU_FILE
    try:
        payload = load_menu(path)
    except MenuError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    count = sum(len(b.get("sub_button", [b])) for b in payload["button"])
    if args.check:
        print(f"{path}: {count} menu entries, OK")
        return 0
    if not (settings.wechat_app_id and settings.wechat_app_secret):
        print("error: WECHAT_APP_ID and WECHAT_APP_SECRET must be set to publish the menu", file=sys.stderr)
        return 2

    async def run() -> None:
        api = WeChatApi(settings.wechat_app_id, settings.wechat_app_secret, settings.wechat_api_base)
        try:
            await publish(api, path)
        finally:
            await api.close()

    try:
        asyncio.run(run())
    except (WeChatApiError, WeChatUnavailable) as exc:
        print(f"error: the menu was not published: {exc}", file=sys.stderr)
        return 1
    print(f"published the menu of {path} ({count} entries); WeChat shows it to followers within minutes")
    return 0
