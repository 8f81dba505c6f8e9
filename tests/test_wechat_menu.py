"""The Official Account's menu: `python -m bot wechat menu` publishes content/wechat_menu.yaml
through menu/create (the strict fake WeChat API checks it as WeChat does); each tap (a CLICK
event with the entry's key) runs the same handler as the typed command; unfollowing marks the
resident unreachable until they write again. Real HTTP on loopback, real WeChat-format XML."""
from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.channels.wechat_menu import COMMANDS, MENU_FILE, MenuError, load_menu
from db import events as stored_events
from db import tickets
from db.models import utcnow
from tests import test_wechat
from tests.conftest import query_rows
from tests.fake_wechat_api import APP_ID, APP_SECRET
from tests.test_wechat import RESIDENT, TOKEN, content_of, expected_reply, message_xml

api, make_callback, callback = test_wechat.api, test_wechat.make_callback, test_wechat.callback  # fixtures
ROOT = Path(__file__).resolve().parents[1]


async def run_cli(*args: str, **env: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env})
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_the_menu_is_published_from_its_file(api, tmp_path):
    env = {"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
           "WECHAT_API_BASE": api.base_url, "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    status, out, err = await run_cli("wechat", "menu", **env)
    assert status == 0, err
    assert "published" in out and api.menu == load_menu(MENU_FILE)
    keys = [b.get("key") for top in api.menu["button"] for b in top.get("sub_button", [top])]
    assert sorted(keys) == sorted(COMMANDS)  # every command of the menu, each once
    labels = [b["name"] for top in api.menu["button"] for b in top.get("sub_button", [top])]
    assert "我要反映" in labels and "我的工单" in labels

    bad = tmp_path / "menu.yaml"
    bad.write_text("buttons:\n  - {name: 问一问, command: rm}\n", encoding="utf-8")
    status, _, err = await run_cli("wechat", "menu", "--file", str(bad), **env)
    assert status == 2 and "command" in err and len(err.strip().splitlines()) == 1
    assert len(api.calls_to("/cgi-bin/menu/create")) == 1  # nothing sent for the bad file
    status, _, err = await run_cli("wechat", "menu", **{k: v for k, v in env.items() if k != "WECHAT_APP_SECRET"})
    assert status == 2 and "WECHAT_APP_SECRET" in err


@pytest.mark.parametrize("menu, problem", [
    ("buttons: []", "1 to 3"),
    ("buttons:\n" + "  - {name: 问, command: ask}\n" * 4, "1 to 3"),
    ("buttons:\n  - {name: 这是一个很长的菜单名字, command: ask}", "bytes"),
    ("buttons:\n  - name: 服务\n    sub:\n" + "      - {name: 工单, command: mytickets}\n" * 6, "1 to 5"),
    ("buttons:\n  - {name: 问一问}", "command"),
    ("not: a menu", "buttons"),
])
def test_a_menu_wechat_would_refuse_is_refused_here_first(tmp_path, menu, problem):
    path = tmp_path / "menu.yaml"
    path.write_text(menu, encoding="utf-8")
    with pytest.raises(MenuError, match=problem):
        load_menu(path)


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe-mode"])
async def test_each_tap_on_the_menu_runs_its_commands_handler(make_callback, services, safe):
    callback = await make_callback(safe=safe)
    # the order keeps the oracle and the resident alike: the report is cancelled by nothing, the language last
    for key in ("ask", "events", "mytickets", "subscribe", "report", "language"):
        status, answer = await callback.post(message_xml("event", Event="CLICK", EventKey=key))
        assert status == 200, key
        assert content_of(answer) == await expected_reply(services, text=COMMANDS[key]), key
    status, answer = await callback.post(message_xml("event", Event="CLICK", EventKey="not_ours"))
    assert (status, answer) == (200, "success")


async def test_unfollowing_marks_the_resident_unreachable_until_they_write_again(callback, services):
    await callback.say("/start")
    resident = await services.store.resident("wechat", RESIDENT)
    async with services.store.transaction() as session:
        await tickets.create(session, created_at=utcnow(),
                             source_key="test:u1", resident_id=resident.id, channel="wechat", chat_id=RESIDENT,
                             category="facilities", text="路灯坏了", place="峨山路91弄",
                             response_due=utcnow(), resolution_due=utcnow() + timedelta(days=5))
        await stored_events.subscribe(session, resident.id, "jobs", utcnow())
    assert await callback.post(message_xml("event", Event="unsubscribe")) == (200, "success")
    assert query_rows(services.store, "SELECT resident_blocked FROM ticket") == [(1,)]
    assert query_rows(services.store, "SELECT blocked_at IS NOT NULL FROM subscription") == [(1,)]
    await callback.post(message_xml("event", Event="subscribe"))  # back, and writing
    assert query_rows(services.store, "SELECT resident_blocked FROM ticket") == [(0,)]
