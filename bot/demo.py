"""`python -m bot demo`: a local database with four weeks of made-up residents' tickets and opinions, and a demo login.

For trying the staff console without Telegram or WeChat: tickets in every state with their
history (replies, notes, assignments, ratings), some overdue and some due soon, photos (small
pictures written straight into PHOTO_DIR's cache, under made-up Telegram file ids: the console
shows them without asking Telegram), opinions in themes, and two emergency alerts. Everything is
made up. It fills only a database without tickets or opinions of its own (a second run just
gives the demo account a new password), so it never mixes into real data.
"""
from __future__ import annotations

import json
import random
import secrets
import struct
import zlib
from datetime import datetime, timedelta
from pathlib import Path

from bot.photo_files import PhotoFiles
from db import accounts, tickets
from db.clock import SHANGHAI
from db.models import Alert, Opinion, Resident, Ticket, TicketEvent

DEMO_ACCOUNT = "demo"
WEEKS = 4
TICKETS = 120
OPINIONS = 260
STAFF = ["web:demo", "staff:5550101 @wang_ks", "staff:5550102 @li_zr"]
DEPARTMENTS = ["城管中队", "房办", "物业科", "平安办", "市场所"]
PLACES = ["峨山路91弄{n}号", "东方路{n}0号", "蓝村路200弄{n}号", "金浦小区{n}号楼", "塘桥新村{n}号", "南泉苑{n}号楼",
          "浦建路55弄{n}号", "富都世界{n}号楼", "崂山路{n}号门口"]
PROBLEMS = {  # category: what residents write
    "fumes": ["楼下烧烤店的油烟每天晚上往我家窗户里灌,窗都不敢开", "饭店排烟管道正对居民楼,气味很呛"],
    "noise": ["工地夜里十一点还在打桩,吵得睡不着", "广场舞音响声音太大,晚上九点以后还在放", "楼上装修电钻声周末也不停"],
    "group_renting": ["隔壁一套两居室住了十几个人,进进出出很乱"],
    "illegal_building": ["一楼住户私自搭建阳光房,占用公共绿地"],
    "fire_safety": ["楼道里有人给电动车充电,电线从窗户拉下来", "消防通道被私家车堵住好几天了"],
    "property": ["电梯坏了一个多星期,物业一直没修", "物业费涨了但保安经常不在岗"],
    "sanitation": ["垃圾箱满了三天没人清运,苍蝇很多", "下水道堵了,污水漫到路面"],
    "facilities": ["小区门口的路灯坏了一个多星期,晚上一片漆黑", "人行道地砖破损,老人容易绊倒", "健身器材螺丝松动很危险"],
    "other": ["快递柜太少,包裹经常放在门口"],
}
IDEAS = {  # content area: opinions, a few words apart so that they fall into themes
    "elderly": ["希望社区食堂增加晚餐供应", "社区食堂能不能也供应晚餐", "老年助餐点周末也能开放就好了", "建议给独居老人多上门探访"],
    "participation": ["希望多开几次居民议事会", "居民议事会能不能多开几次", "社代会的结果能否在公众号公布"],
    "childcare": ["宝宝屋周六也能开放就好了", "宝宝屋周末开放吧", "暑假希望多办一些青少年活动"],
    "culture": ["周末市集办得很好,希望常办", "社区文化中心开放时间能否延长到晚上"],
    "housing": ["加装电梯的进度希望公示", "老旧小区外墙脱落,建议尽快修缮"],
    "jobs": ["希望多举办几场招聘会"],
}
REPLIES = ["您好,我们已派人现场查看,会尽快处理。", "已联系相关部门,预计本周内处理完毕。", "感谢反映,已转城管中队跟进。"]
NOTES = ["已电话联系居民,约好明天上门", "物业经理说配件下周到", "现场照片已存档,等待执法队排期"]


def _png(seed: int, width: int = 320, height: int = 240) -> bytes:
    """A small gradient picture (a PNG made by hand: no imaging library for a demo)."""
    rng = random.Random(seed)
    base = [rng.randrange(60, 200) for _ in range(3)]
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in
                                     ((base[0] + x // 4) % 256, (base[1] + y // 3) % 256, (base[2] + (x + y) // 8) % 256))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


async def fill(services, photo_dir: Path, seed: int = 13, now: datetime | None = None) -> dict[str, int]:
    """Made-up residents, tickets (with events), opinions and alerts over the last WEEKS weeks."""
    rng = random.Random(seed)
    now = now or services.clock()
    calendar = services.tickets.calendar
    photos = PhotoFiles(photo_dir, None, None)
    photo_dir.mkdir(parents=True, exist_ok=True)
    made = {"tickets": 0, "events": 0, "opinions": 0, "photos": 0, "alerts": 0}
    async with services.store.transaction() as session:
        residents = []
        for n in range(40):
            resident = Resident(channel="telegram" if n % 3 else "wechat", user_id=f"demo-{n}", created_at=now - timedelta(days=40))
            session.add(resident)
            residents.append(resident)
        await session.flush()
        starts = sorted(now - timedelta(days=7 * WEEKS) + timedelta(seconds=rng.uniform(0, 7 * WEEKS * 86400))
                        for _ in range(TICKETS))
        for index, created in enumerate(starts):
            local = created.astimezone(SHANGHAI)
            created = min(local.replace(hour=rng.randrange(8, 21)).astimezone(created.tzinfo), now - timedelta(minutes=30))
            resident = rng.choice(residents)
            category = rng.choice(list(PROBLEMS))
            file_ids = []
            if rng.random() < 0.3:
                file_ids = [f"demo-photo-{index}-{k}" for k in range(rng.choice((1, 1, 2)))]
                for file_id in file_ids:
                    path = photos.path("telegram", file_id)
                    path.write_bytes(_png(zlib.crc32(file_id.encode())))
                    made["photos"] += 1
            ticket = await tickets.create(
                session, source_key=f"demo:{index}", resident_id=resident.id, channel="telegram", chat_id=resident.user_id,
                category=category, text=rng.choice(PROBLEMS[category]), place=rng.choice(PLACES).format(n=rng.randrange(1, 30)),
                phone=f"139{rng.randrange(10**8):08d}" if rng.random() < 0.4 else None, photos=json.dumps(file_ids),
                created_at=created, response_due=calendar.add_working_days(created, 1),
                resolution_due=calendar.add_working_days(created, 5))
            created_event = (await tickets.history(session, ticket.id, public_only=False))[0]
            created_event.at = created  # create() records it now; the demo's ticket came in then
            events = [created_event, *_story(rng, ticket, created, now)]
            for event in events:
                session.add(event)
            session.add(ticket)
            made["tickets"] += 1
            made["events"] += len(events)
        await session.flush()
        for _ in range(OPINIONS):
            area = rng.choice(list(IDEAS))
            session.add(Opinion(resident_id=rng.choice(residents).id, channel="telegram", category=area,
                                text=rng.choice(IDEAS[area]) + rng.choice(["", "", "!", ",谢谢"]),
                                created_at=now - timedelta(seconds=rng.uniform(0, 7 * WEEKS * 86400))))
            made["opinions"] += 1
        # one alert acknowledged, one waiting on top of every console page
        for hours, acknowledged in ((200, True), (30, False)):
            session.add(Alert(channel="telegram", kinds="gas", text="楼道里有很浓的煤气味,邻居家没人应门",
                              created_at=now - timedelta(hours=hours),
                              acknowledged_by="web:demo" if acknowledged else None,
                              acknowledged_at=now - timedelta(hours=hours - 1) if acknowledged else None))
            made["alerts"] += 1
    return made


def _story(rng: random.Random, ticket: Ticket, created: datetime, now: datetime) -> list[TicketEvent]:
    """What staff did with the ticket so far, as the bot records it; the ticket's fields to match."""
    events: list[TicketEvent] = []
    staff = rng.choice(STAFF)

    def event(at: datetime, kind: str, note: str = "", to: str | None = None, public: bool = True,
              actor: str | None = None) -> bool:
        if at >= now:
            return False
        events.append(TicketEvent(ticket_id=ticket.id, at=at, actor=actor or staff, kind=kind, note=note,
                                  from_status=ticket.status if to else None, to_status=to, public=public))
        if to:
            ticket.status = to
        return True

    age = now - created
    if age < timedelta(hours=20) or rng.random() < 0.08:  # new: not seen yet (some of them overdue)
        return events
    answered = created + timedelta(hours=rng.uniform(0.5, 30 if rng.random() < 0.8 else 60))
    if not event(answered, "status", "已收到,正在安排人员处理", "acknowledged"):
        return events
    ticket.first_response_at = answered
    if rng.random() < 0.4:
        ticket.assignee = rng.choice(DEPARTMENTS)
        event(answered + timedelta(minutes=5), "assign", ticket.assignee, public=False)
    if rng.random() < 0.3:
        event(answered + timedelta(minutes=40), "note", rng.choice(NOTES), public=False)
    if rng.random() < 0.5:
        event(answered + timedelta(hours=2), "reply", rng.choice(REPLIES))
    if rng.random() < 0.3:
        event(answered + timedelta(hours=3), "message", "师傅今天来过了,但是还没修好", actor="resident")
    ending, done = rng.random(), answered + timedelta(hours=rng.lognormvariate(3.3, 0.8))
    if ending < 0.05:
        event(done, "status", "不属于街道职责范围,已告知居民拨打12345", "rejected") and setattr(ticket, "closed_at", done)
    elif ending < 0.1 and ticket.id > 1:
        if event(done, "status", "与之前的工单是同一问题,合并处理", "duplicate"):
            ticket.duplicate_of, ticket.closed_at = rng.randrange(1, ticket.id), done
    elif ending < 0.3:
        event(answered + timedelta(hours=3), "status", "正在协调相关部门", "in_progress")
    elif event(done, "status", "已处理完毕,请您评价", "resolved"):
        ticket.resolved_at = done
        rated = done + timedelta(hours=rng.uniform(1, 20))
        if rng.random() < 0.6 and event(rated, "rating", f"{(score := rng.choice([5, 5, 4, 3]))} 星", actor="resident"):
            ticket.status, ticket.rating, ticket.closed_at = "closed", score, rated
    return events


async def main(settings) -> int:
    """Fill the database of DATABASE_URL, then give the demo account a fresh password and print it."""
    from sqlalchemy import func, select

    from bot.startup import build_services, close_services

    services = await build_services(settings)
    try:
        async with services.store.transaction() as session:
            found = (await session.exec(select(func.count()).select_from(Ticket))).one()[0] + \
                (await session.exec(select(func.count()).select_from(Opinion))).one()[0]
            ours = (await session.exec(select(func.count()).select_from(Ticket)
                                       .where(Ticket.source_key.startswith("demo:")))).one()[0]
        if found and not ours:
            print(f"error: {settings.database_shown} has tickets or opinions already: the demo fills only a database of "
                  "its own (set DATABASE_URL to another file)")
            return 2
        if not found:
            made = await fill(services, Path(settings.photo_dir))
            print(f"{settings.database_shown}: {made['tickets']} tickets ({made['events']} events, {made['photos']} photos), "
                  f"{made['opinions']} opinions, {made['alerts']} emergency alerts over the last {WEEKS} weeks")
        else:
            print(f"{settings.database_shown}: the demo's data is there already")
        password = secrets.token_urlsafe(12)
        async with services.store.transaction() as session:
            if await accounts.by_name(session, DEMO_ACCOUNT) is None:
                await accounts.add(session, DEMO_ACCOUNT, password, admin=True)
            else:
                await accounts.set_password(session, DEMO_ACCOUNT, password)
                print(f"the {DEMO_ACCOUNT} account existed: its password is replaced by the one below "
                      "(the old one no longer works)")
    finally:
        await close_services(services)
    print(f"staff console: python -m bot serve, then http://{settings.host}:{settings.port}/staff/ "
          f"name {DEMO_ACCOUNT}, password {password}")
    return 0
