"""Personal data (issue 12): what /forgetme erases, numbers masked however they are typed,
consent to a phone per report, update keys that hold no user id and are forgotten, secrets
kept out of what is printed. Through the real router on a real database (SQLite, and
PostgreSQL when TEST_POSTGRES_URL is set)."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import SQLModel

from bot.settings import load_settings
from bot.startup import ListedStaff, build_services, close_services
from db.models import utcnow
from handlers import chase
from handlers.masking import erase_numbers, mask_text
from handlers.router import handle
from handlers.services import TicketRules
from handlers.types import Inbound
from tests.conftest import query_rows, url_of

pytestmark = pytest.mark.both_databases

MOD, STAFF = "-1001", "7"
USER = "70010042"  # the resident's Telegram id
PHONE, SPACED_PHONE = "13912345678", "139 1234 5678"
OLD_ID_CARD = "310101800101123"  # 15 digits, issued before 1999
NEW_ID_CARD = "310101198001011234"


@pytest.fixture
async def office(services):
    return replace(services, tickets=TicketRules(moderation_chat=MOD, per_day=5), staff=ListedStaff(frozenset({7})))


def resident(text="", user=USER, channel="telegram", **kw):
    return Inbound(channel, user, user, text=text, **kw)


def rows(services, sql, *args):
    return query_rows(services.store, sql, *args)


async def report(office, text, place, phone=None, user=USER):
    """A whole report; `phone` typed at the phone step, or Skip pressed."""
    await handle(resident("/report", user), office)
    await handle(resident(text, user), office)
    await handle(resident(place, user), office)
    await handle(resident(user=user, callback="ik:skip"), office)  # no photos
    summary = await handle(resident(phone, user) if phone else resident(user=user, callback="ik:skip"), office)
    done = await handle(resident(user=user, callback="ik:submit"), office)
    return summary, done


def every_stored_text(services) -> list[str]:
    """Every value of every table, as text with spaces and dashes taken out."""
    found = []
    for table in SQLModel.metadata.sorted_tables:
        for row in rows(services, f'select * from "{table.name}"'):
            found += [re.sub(r"[\s\-]", "", str(v)) for v in row if v is not None]
    return found


# -- /forgetme -------------------------------------------------------------------------------


async def test_forgetme_erases_every_copy_of_the_numbers_and_the_account(office):
    await report(office, f"楼道堆满杂物,身份证{OLD_ID_CARD}的房东不管,电话{SPACED_PHONE}", f"塘桥路100号 联系{PHONE}", PHONE)
    await report(office, f"隔壁装修太吵,我的身份证号 {NEW_ID_CARD}", "塘桥路102号")  # Skip: no phone
    await handle(resident("/opinion 建议多装路灯,有事打 1 3 9 1 2 3 4 5 6 7 8", update_key="9001"), office)
    for state in ("acknowledged 已联系", "in_progress 已派人联系"):
        await handle(Inbound("telegram", STAFF, MOD, text=f"/status 1 {state} {PHONE} 的居民"), office)
    # two cards and two status notices: the outbox's copies in every state a row can be in (the
    # worker's doing, not this test's), the last one still pending
    ids = [i for i, in rows(office, "select id from outboxmessage order by id")]
    for row_id, state in zip(ids, ["sent", "failed", "unsure", "pending"], strict=True):
        rows(office, "update outboxmessage set state = ? where id = ?", state, row_id)
    assert any(PHONE in t for t in every_stored_text(office))

    await handle(resident("/forgetme"), office)
    done = await handle(resident(callback="forget:yes"), office)
    assert "已删除" in done.messages[0].text
    stored = every_stored_text(office)
    for number in (PHONE, OLD_ID_CARD, NEW_ID_CARD, USER):
        assert not [t for t in stored if number in t], number
    # what the office keeps for statistics is still there, numbers erased
    assert rows(office, "select text, place from ticket order by id")[0] == (
        "楼道堆满杂物,身份证****的房东不管,电话****", "塘桥路100号 联系****")
    assert rows(office, "select count(*) from opinion") == [(1,)]
    assert rows(office, "select count(*) from outboxmessage where state = 'pending'") == [(0,)]
    assert rows(office, "select state, last_error from outboxmessage where id = ?", ids[3]) == [("cancelled", "forgotten")]


async def test_forgetme_leaves_no_copy_in_the_sqlite_files(office):
    """secure_delete zeroes the freed pages and the WAL is checkpointed and truncated: the erased
    number is in neither file's bytes (the database's other copies are checked above)."""
    from pathlib import Path

    url = url_of(office.store)
    if not url.startswith("sqlite"):
        pytest.skip("SQLite's files")
    path = Path(url.split("///", 1)[1])
    await report(office, f"楼道堆满杂物,电话 {PHONE}", f"塘桥路100号 联系{PHONE}", PHONE)
    files = [path, path.with_name(path.name + "-wal")]
    assert any(PHONE.encode() in f.read_bytes() for f in files if f.exists())
    await handle(resident("/forgetme"), office)
    await handle(resident(callback="forget:yes"), office)
    assert not [f.name for f in files if f.exists() and PHONE.encode() in f.read_bytes()]


async def test_the_moderation_chats_messages_carry_no_phone_or_id_number(office):
    """Telegram's servers are outside China (PIPL): the card, the console's notes, /ticket and /open
    show numbers masked; the database keeps them for the console (masked there too until "show")."""
    await report(office, f"楼道堆满杂物,身份证{NEW_ID_CARD},电话 139.1234.5678", f"塘桥路100号 联系{SPACED_PHONE}", PHONE)
    await handle(Inbound("telegram", STAFF, MOD, text=f"/note 1 居民电话 {PHONE}"), office)
    shown = [(await handle(Inbound("telegram", STAFF, MOD, text=command), office)).messages[0].text
             for command in ("/ticket 1", "/open")]
    to_chat = [t for t, in rows(office, "select text from outboxmessage where chat_id = ?", MOD)] + shown
    assert len(to_chat) >= 3 and any("139****5678" in t for t in to_chat)
    for number in (PHONE, NEW_ID_CARD, "1234.5678"):
        assert not [t for t in to_chat if number in t], number
    assert rows(office, "select phone from ticket") == [(PHONE,)]


async def test_with_minimal_cards_the_chat_gets_no_resident_text(office):
    minimal = replace(office, tickets=replace(office.tickets, chat_cards="minimal", console_url="https://bot.example.cn/staff"))
    await report(minimal, "楼道堆满杂物,谁家的没人管", "峨山路九十一弄五号楼", PHONE)
    (number,), = rows(office, "select number from ticket")
    (card,), = rows(office, "select text from outboxmessage where chat_id = ? and purpose = 'card'", MOD)
    assert number in card and f"https://bot.example.cn/staff/tickets/{number}" in card and "峨山路91弄" in card
    assert "杂物" not in card and "五号楼" not in card and "5678" not in card


async def test_update_keys_hold_no_user_id_and_are_purged(office):
    openid = "oWECHAT-openid-of-the-resident"
    await handle(resident("你好", user=openid, channel="wechat", update_key=f"{openid}:1764830000:subscribe"), office)
    await handle(resident("你好", update_key="555"), office)
    keys = [k for k, in rows(office, "select key from processedupdate")]
    assert len(keys) == 2 and not [k for k in keys if openid in k or "555" in k]
    await chase.run(office, utcnow() + timedelta(hours=1))
    assert rows(office, "select count(*) from processedupdate") == [(2,)]  # a recent key stays
    await chase.run(office, utcnow() + timedelta(days=3))
    assert rows(office, "select count(*) from processedupdate") == [(0,)]


async def test_a_new_bot_token_does_not_collide_with_the_old_bots_update_ids(services):
    url = url_of(services.store)

    async def greet(token: str):
        bot = await build_services(load_settings({"TELEGRAM_BOT_TOKEN": token, "DATABASE_URL": url}))
        try:
            return await handle(resident("你好", update_key="1"), bot)
        finally:
            await close_services(bot)

    assert (await greet("111:old-token")).messages
    assert (await greet("111:old-token")).messages == []  # the same bot's update again
    assert (await greet("222:new-token")).messages  # another bot's update 1


# -- consent per report ----------------------------------------------------------------------


async def test_a_phone_is_for_one_report_and_skip_means_none(office):
    await report(office, "楼下烧烤店油烟天天往我家窗户里灌", "峨山路100弄3号", SPACED_PHONE)
    summary, _ = await report(office, "小区门口的路灯坏了一个多星期", "塘桥新村5号")
    assert PHONE not in summary.messages[0].text and "未留" in summary.messages[0].text
    assert rows(office, "select phone from ticket order by id") == [(PHONE,), (None,)]
    card = rows(office, "select text from outboxmessage where purpose = 'card' order by id")[1][0]
    assert PHONE not in card


# -- masking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("typed, masked", [
    ("身份证310101800101123", "身份证310101*****1123"),  # the 15-digit card
    ("身份证 310101 19800101 123X", "身份证 310101********123X"),
    ("电话1 3 9 1 2 3 4 5 6 7 8", "电话139****5678"),
    ("电话139  1234  5678", "电话139****5678"),
    ("电话 139 - 1234 - 5678", "电话 139****5678"),
    ("座机 5 8 8 8 1 2 3 4", "座机 ****1234"),
    ("工单 TQ-2611-0042 于 2026-11-30 办结,门牌100弄3号", "工单 TQ-2611-0042 于 2026-11-30 办结,门牌100弄3号"),
])
def test_numbers_are_masked_however_they_are_typed(typed, masked):
    assert mask_text(typed) == masked
    assert not re.search(r"\d{4}", erase_numbers(typed)) or typed == masked
