"""`python -m bench export`: how long the weekly export takes, and how much memory, at scale.

A fresh temporary SQLite database gets 100,000 tickets (with their events) and 100,000 opinions
of realistic Chinese text, spread evenly over five weeks - the last of them last week, so that
week holds 20,000 of each. Then last week is exported once per format and once with all of them,
each in a fresh interpreter so its peak RSS (resource.getrusage) is its own; the time covers
build_export only, not the interpreter's start.

Beside it, in the same run and alternating with it, the floor: the very cells the export writes
(recorded first) dumped by a bare XlsxWriter workbook in constant-memory mode and the csv module.
The last line is the export's CPU time over the dump's, `ratio to a bare dump: R` (CPU, as the
machine may be shared; the wall-clock ratio is printed above it). With --each-format, each format
alone first.
"""
from __future__ import annotations

import asyncio
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from db.clock import SHANGHAI

TICKETS = OPINIONS = 100_000
WEEKS = 5
RESIDENTS = 25_000
CHUNK = 5_000
ROUNDS = 3  # the export and the bare dump, alternating

ROADS = ["峨山路", "东方路", "浦东南路", "张杨路", "塘桥路", "南泉路", "蓝村路", "塘桥新路", "浦建路", "崂山路", "微山路", "龙阳路"]
ESTATES = ["金浦小区", "塘桥新村", "蓝村小区", "富都世界", "南泉苑", "王家宅小区", "东方城市花园", "世茂滨江花园", "浦建公寓"]
SHOPS = ["烧烤店", "小饭馆", "火锅店", "面馆", "大排档", "烤鱼店"]
PROBLEMS = {  # category: (weight, texts)
    "fumes": (14, ["楼下{shop}的油烟每天晚上往我家窗户里灌,窗都不敢开", "{shop}的排烟管道正对居民楼,气味很呛",
                   "小区门口的烧烤摊营业到凌晨,烟味大得受不了"]),
    "noise": (18, ["{place}附近工地夜里{hour}点还在打桩,吵得睡不着", "楼上装修电钻声从早到晚,周末也不停",
                   "广场舞音响声音太大,晚上九点以后还在放", "隔壁KTV半夜唱歌扰民"]),
    "group_renting": (6, ["隔壁一套两居室住了十几个人,上下铺,进进出出很乱", "二房东把房子隔断出租,楼道里堆满东西"]),
    "illegal_building": (6, ["一楼住户私自搭建阳光房,占用公共绿地", "顶楼加层搭了铁皮房,担心安全"]),
    "fire_safety": (10, ["楼道里有人给电动车充电,电线从窗户飞线拉下来", "消防通道被私家车堵住好几天了",
                         "地下车库电瓶车集中充电没有人管,怕着火"]),
    "property": (12, ["物业不修电梯,已经坏了一个多星期", "物业费涨了但保安经常不在岗", "停车费收费不透明,业委会也不回应"]),
    "sanitation": (14, ["垃圾箱满了三天没人清运,苍蝇很多", "小区里老鼠越来越多,希望组织灭鼠", "下水道堵了,污水漫到路面"]),
    "facilities": (14, ["小区门口的路灯坏了一个多星期,晚上一片漆黑", "人行道地砖破损,老人容易绊倒",
                        "健身器材坏了,螺丝松动很危险", "共享单车乱停,把盲道都堵住了"]),
    "other": (6, ["快递柜太少,包裹经常放在门口", "希望增加一条到地铁站的公交线路"]),
}
IDEAS = {  # content area (or "other"): opinions
    "elderly": ["希望社区食堂增加晚餐供应", "老年助餐点周末也能开放就好了", "建议给独居老人多上门探访", "长者照护之家床位太紧张"],
    "childcare": ["托育点名额太少,希望扩容", "暑假希望多办一些青少年活动"],
    "jobs": ["希望多举办几场招聘会", "建议开设电商直播技能培训"],
    "culture": ["周末市集办得很好,希望常办", "社区文化中心开放时间能否延长到晚上"],
    "housing": ["加装电梯的进度希望公示", "老旧小区外墙脱落,建议尽快修缮"],
    "safety": ["夜里小区门口照明不足,存在安全隐患", "电动车进楼的情况还很多,建议加强巡查"],
    "assistance": ["困难家庭的申请流程能不能简化", "希望给残疾人多一些就业帮扶"],
    "business": ["园区白领午餐选择太少", "写字楼附近停车太难"],
    "participation": ["社代会的结果能否在公众号公布", "希望多开几次居民议事会"],
    "other": ["机器人回答挺快的,谢谢", "希望能有英文服务"],
}
ENDINGS = ["希望尽快处理。", "已经反映过一次了,还没解决。", "谢谢!", "麻烦派人来看看。", "", "", "盼回复。"]
STAFF = ["staff:5550101 @wang_ks", "staff:5550102 @li_zr", "staff:5550103 @zhao"]


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"


def _place(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return f"{rng.choice(ROADS)}{rng.randrange(1, 60) * 10}弄"
    return f"{rng.choice(ESTATES)}{rng.randrange(1, 30)}号楼"


def _times(rng: random.Random, first_monday: date, count: int) -> list[datetime]:
    """count UTC times spread evenly over WEEKS weeks, mostly in the day, in order."""
    start = datetime(first_monday.year, first_monday.month, first_monday.day, tzinfo=SHANGHAI)
    out = []
    per_week = count // WEEKS
    for week in range(WEEKS):
        for _ in range(per_week):
            day, hour = rng.randrange(7), rng.gauss(14, 4.5) % 24
            out.append((start + timedelta(days=7 * week + day, hours=hour)).astimezone(UTC))
    return sorted(out)


class _Dues:
    """Time limits from the calendar, cached per day: add_working_days keeps the clock time."""

    def __init__(self, calendar):
        self.calendar, self.cache = calendar, {}

    def __call__(self, created: datetime, days: int) -> datetime:
        local = created.astimezone(SHANGHAI)
        key = (local.date(), days)
        if key not in self.cache:
            midnight = datetime(local.year, local.month, local.day, tzinfo=SHANGHAI)
            self.cache[key] = self.calendar.add_working_days(midnight, days)
        due = self.cache[key]
        return due + (local - local.replace(hour=0, minute=0, second=0, microsecond=0)) \
            if self.calendar.is_workday(local.date()) else due


class _History:
    """One ticket's events, up to now: the bench's tickets have a history as the bot writes it."""

    def __init__(self, ticket_id: int, now: datetime):
        self.ticket_id, self.now, self.events = ticket_id, now, []

    def __call__(self, at, actor, kind, note="", frm=None, to=None, public=True) -> bool:
        if at > self.now:
            return False
        self.events.append(dict(ticket_id=self.ticket_id, at=at, actor=actor, kind=kind, from_status=frm, to_status=to,
                                note=note, public=public))
        return True


def _tickets(rng: random.Random, times: list[datetime], users: list[tuple[str, str]], calendar,
             now: datetime) -> Iterator[tuple[dict, list[dict]]]:
    """Each ticket's row and its events, in order of time (the ticket's id is its position + 1)."""
    from handlers.rules.places import area_of

    categories = list(PROBLEMS)
    weights = [PROBLEMS[c][0] for c in categories]
    counters: dict[str, int] = {}
    dues = _Dues(calendar)
    for index, created in enumerate(times):
        ticket_id = index + 1
        resident = rng.randrange(len(users))
        category = rng.choices(categories, weights)[0]
        place = _place(rng)
        text = rng.choice(PROBLEMS[category][1]).format(shop=rng.choice(SHOPS), place=place, hour=rng.choice("12345"))
        text += rng.choice(ENDINGS)
        if rng.random() < 0.08:
            text += f"我的电话{_phone(rng)}"
        month = created.astimezone(SHANGHAI).strftime("%y%m")
        counters[month] = counters.get(month, 0) + 1
        row = dict(number=f"TQ-{month}-{counters[month]:04d}", source_key=f"bench:{ticket_id}", resident_id=resident + 1,
                   channel=users[resident][0], chat_id=users[resident][1], category=category, text=text, place=place,
                   area=area_of(place),
                   phone=_phone(rng) if rng.random() < 0.3 else None, status="new", assignee=None, duplicate_of=None,
                   rating=None, created_at=created, first_response_at=None, resolved_at=None, closed_at=None,
                   response_due=dues(created, 1), resolution_due=dues(created, 5))
        event = _History(ticket_id, now)
        event(created, "resident", "created", to="new")
        _handle(rng, row, event, ticket_id, created)
        yield row, event.events


def _handle(rng: random.Random, row: dict, event: _History, ticket_id: int, created: datetime) -> None:
    """What staff did with the ticket: most are answered within hours and resolved within days."""
    staff = rng.choice(STAFF)
    responded = created + timedelta(hours=rng.lognormvariate(1.3, 1.0))
    if not (rng.random() < 0.92 and event(responded, staff, "status", "已收到,正在安排人员处理", "new", "acknowledged")):
        return
    row.update(status="acknowledged", first_response_at=responded)
    if rng.random() < 0.3:
        row["assignee"] = rng.choice(["城管中队", "房办", "物业科", "平安办", "市场所"])
        event(responded + timedelta(minutes=5), staff, "assign", row["assignee"], public=False)
    if rng.random() < 0.15:
        event(responded + timedelta(minutes=30), staff, "note", f"已电话联系居民 {_phone(rng)},约好上门时间", public=False)
    ending = rng.random()
    done = responded + timedelta(hours=rng.lognormvariate(3.2, 0.9))
    if ending < 0.04 and ticket_id > 1:
        row["duplicate_of"] = rng.randrange(1, ticket_id)
        if event(done, staff, "status", "与之前的工单是同一问题", "acknowledged", "duplicate"):
            row.update(status="duplicate", closed_at=done)
    elif ending < 0.07:
        if event(done, staff, "status", "不属于街道职责范围,已告知居民", "acknowledged", "rejected"):
            row.update(status="rejected", closed_at=done)
    elif ending < 0.8:
        event(responded + timedelta(hours=2), staff, "reply", "我们已派人现场查看,会尽快处理。")
        if event(done, staff, "status", "已处理完毕,请您评价", "acknowledged", "resolved"):
            row.update(status="resolved", resolved_at=done)
            rated, score = done + timedelta(hours=rng.uniform(1, 30)), rng.choice([5, 5, 5, 4, 4, 3, 1])
            if rng.random() < 0.55 and event(rated, "resident", "rating", f"{score} 星"):
                row.update(status="closed", rating=score, closed_at=rated)
    elif event(responded + timedelta(hours=3), staff, "status", "正在协调相关部门", "acknowledged", "in_progress"):
        row["status"] = "in_progress"


def _opinions(rng: random.Random, times: list[datetime], users: list[tuple[str, str]]) -> Iterator[dict]:
    areas = list(IDEAS)
    for created in times:
        resident = rng.randrange(len(users))
        area = rng.choice(areas)
        text = rng.choice(IDEAS[area]) + rng.choice(ENDINGS)
        if rng.random() < 0.03:
            text += f"可以打我电话 {_phone(rng)}"
        yield dict(resident_id=resident + 1, channel=users[resident][0], category=area, text=text, created_at=created)


async def fill(url: str, week: tuple[date, date], seed: int = 2026) -> dict[str, int]:
    """A fresh database of the bench's size; the given week is the last of the five."""
    from db.models import Opinion, Resident, Ticket, TicketEvent
    from db.store import Store
    from handlers.rules.workdays import Calendar

    rng = random.Random(seed)
    store = await Store.open(url)
    first_monday = week[0] - timedelta(days=7 * (WEEKS - 1))
    now = datetime.now(UTC)
    users = [("telegram", str(rng.randrange(10**8, 10**10))) if rng.random() < 0.6
             else ("wechat", "o" + "".join(rng.choices("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", k=27)))
             for _ in range(RESIDENTS)]
    sizes = {"residents": len(users), "tickets": 0, "events": 0, "opinions": 0}
    try:
        async with store.engine.begin() as conn:
            for at in range(0, len(users), CHUNK):
                await conn.execute(Resident.__table__.insert(), [
                    dict(channel=c, user_id=u, phone=_phone(rng) if rng.random() < 0.4 else None, created_at=now)
                    for c, u in users[at:at + CHUNK]])
        tickets, events = [], []
        for row, its_events in _tickets(rng, _times(rng, first_monday, TICKETS), users, Calendar(), now):
            tickets.append(row)
            events += its_events
            if len(tickets) == CHUNK:
                sizes["tickets"], sizes["events"] = sizes["tickets"] + len(tickets), sizes["events"] + len(events)
                await _insert(store, Ticket, tickets, TicketEvent, events)
                tickets, events = [], []
        if tickets:
            sizes["tickets"], sizes["events"] = sizes["tickets"] + len(tickets), sizes["events"] + len(events)
            await _insert(store, Ticket, tickets, TicketEvent, events)
        opinions = []
        for row in _opinions(rng, _times(rng, first_monday, OPINIONS), users):
            opinions.append(row)
            if len(opinions) == CHUNK:
                await _insert(store, Opinion, opinions)
                sizes["opinions"] += len(opinions)
                opinions = []
        if opinions:
            await _insert(store, Opinion, opinions)
            sizes["opinions"] += len(opinions)
    finally:
        await store.close()
    return sizes


async def _insert(store, table, rows: list[dict], other=None, other_rows: list[dict] | None = None) -> None:
    """One transaction, executemany per table."""
    async with store.engine.begin() as conn:
        await conn.execute(table.__table__.insert(), rows)
        if other is not None and other_rows:
            await conn.execute(other.__table__.insert(), other_rows)


def child() -> None:
    """In a fresh interpreter: one export, then its time and memory as JSON on stdout."""
    url, start, end, out, formats = sys.argv[1:6]
    result = asyncio.run(_measure(url, date.fromisoformat(start), date.fromisoformat(end), Path(out), formats.split(",")))
    print(json.dumps(result))


def bare_child() -> None:
    """In a fresh interpreter: the cells of the export's workbook and CSV files (recorded by running
    the export with writers that only keep them), then timed: the same cells written by a bare
    XlsxWriter workbook (constant memory) and the csv module, nothing else."""
    url, start, end, out = sys.argv[1:5]
    sheets = asyncio.run(_record(url, date.fromisoformat(start), date.fromisoformat(end), Path(out)))
    began, cpu_began = time.perf_counter(), time.process_time()
    bare_dump(sheets, Path(out))
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    print(json.dumps(dict(seconds=seconds, cpu=cpu, rss_peak=_rss_mb(), cells=sum(len(r) for _, rows in sheets for r in rows))))


class _Recorder:
    """A writer of bot/export/files.py's interface that keeps every row, as (sheet title, rows)."""

    def __init__(self, sheets: list):
        self.sheets = sheets

    def begin(self, sheet) -> None:
        self.sheets.append((sheet.title, []))
        self.headers([c.zh for c in sheet.columns], [c.en for c in sheet.columns])

    def headers(self, zh: list, en: list) -> None:
        self.sheets[-1][1].extend([list(zh), list(en)])

    def row(self, values: list) -> None:
        self.sheets[-1][1].append(list(values))

    def note(self, text: str) -> None:
        self.row([text])

    def blank(self) -> None:
        self.row([])

    async def close(self) -> list:
        return []

    def abort(self) -> None:
        pass


async def _record(url: str, start: date, end: date, out: Path) -> list:
    from dataclasses import replace

    import bot.export.build as build
    from bot.startup import build_core
    from db.store import Store

    sheets: list = []
    store = await Store.open(url)
    services = replace(build_core(), store=store)
    writers = build.XlsxOut, build.CsvOut
    build.XlsxOut = build.CsvOut = lambda *_: _Recorder(sheets)  # one recorder is enough: both got the same rows
    try:
        await build.build_export(store, services, start, end, out, ("csv",))
    finally:
        build.XlsxOut, build.CsvOut = writers
        await store.close()
    return sheets


def bare_dump(sheets: list, out: Path) -> None:
    import csv

    import xlsxwriter

    out.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(out / "bare.xlsx"), {"constant_memory": True, "strings_to_formulas": False,
                                                        "strings_to_urls": False, "strings_to_numbers": False,
                                                        "default_date_format": "yyyy-mm-dd hh:mm"})
    for title, rows in sheets:
        sheet = book.add_worksheet(title)
        for number, values in enumerate(rows):
            sheet.write_row(number, 0, values)
    book.close()
    for index, (_, rows) in enumerate(sheets):
        with open(out / f"bare-{index}.csv", "w", encoding="utf-8-sig", newline="") as file:
            csv.writer(file).writerows(rows)


def _rss_mb() -> float:
    """The peak resident set size of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _current_rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):  # not Linux: the peak so far is the best we know
        return _rss_mb()
    return pages * resource.getpagesize() / 2**20


async def _measure(url: str, start: date, end: date, out: Path, formats: list[str]) -> dict:
    from dataclasses import replace

    from bot.export.build import build_export
    from bot.startup import build_core
    from db.store import Store

    store = await Store.open(url)
    services = replace(build_core(), store=store)
    before = _current_rss_mb()
    began, cpu_began = time.perf_counter(), time.process_time()
    result = await build_export(store, services, start, end, out, formats)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    await store.close()
    return dict(seconds=seconds, cpu=cpu, rss_before=before, rss_peak=_rss_mb(), rows=result.rows,
                bytes=sum(p.stat().st_size for p in result.files), files=[p.name for p in result.files])


def _child(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_export(database: str | None = None, each_format: bool = False, rounds: int = ROUNDS) -> int:
    """With `database`, a SQLite file filled once (when it does not exist) and reused."""
    from handlers.reports import last_week, today_in_shanghai

    week = last_week(today_in_shanghai())
    folder = Path(tempfile.mkdtemp(prefix="tangqiao-bench-export-"))
    path = Path(database) if database else folder / "bench.db"
    url = f"sqlite+aiosqlite:///{path.resolve()}"
    try:
        if not path.exists():
            began = time.perf_counter()
            sizes = asyncio.run(fill(url, week))
            print(f"filled a fresh database in {time.perf_counter() - began:.1f} s: {sizes['tickets']:,} tickets, "
                  f"{sizes['events']:,} events, {sizes['opinions']:,} opinions, {sizes['residents']:,} residents over "
                  f"{WEEKS} weeks ({path.stat().st_size / 2**20:.0f} MB)")
        print(f"exporting {week[0]} to {week[1]} (each run in a fresh interpreter; RSS includes the interpreter "
              "and the content base)", flush=True)
        days = (str(week[0]), str(week[1]))
        for formats in ("xlsx", "csv", "html") if each_format else ():
            m = _child("from bench.export import child; child()", url, *days, str(folder / formats), formats)
            rows = ", ".join(f"{n:,} {sheet}" for sheet, n in m["rows"].items()) or "figures only"
            print(f"  {formats:<14} {m['seconds']:6.2f} s (CPU {m['cpu']:5.2f} s)   peak RSS {m['rss_peak']:4.0f} MB   "
                  f"{len(m['files'])} files, {m['bytes'] / 2**20:.1f} MB   rows: {rows}", flush=True)
        exports, bares = [], []
        for round_ in range(rounds):  # side by side, alternating, so both see the same machine
            m = _child("from bench.export import child; child()", url, *days, str(folder / f"all-{round_}"), "xlsx,csv,html")
            exports.append(m)
            rows = ", ".join(f"{n:,} {sheet}" for sheet, n in m["rows"].items())
            print(f"  the export, xlsx+csv+html: {m['seconds']:6.2f} s (CPU {m['cpu']:5.2f} s)   peak RSS "
                  f"{m['rss_peak']:4.0f} MB   {len(m['files'])} files, {m['bytes'] / 2**20:.1f} MB   rows: {rows}", flush=True)
            b = _child("from bench.export import bare_child; bare_child()", url, *days, str(folder / f"bare-{round_}"))
            bares.append(b)
            print(f"  a bare dump of its {b['cells']:,} cells (XlsxWriter constant memory + csv): {b['seconds']:6.2f} s "
                  f"(CPU {b['cpu']:5.2f} s)", flush=True)
        export_cpu, bare_cpu = statistics.median(m["cpu"] for m in exports), statistics.median(b["cpu"] for b in bares)
        export_s, bare_s = statistics.median(m["seconds"] for m in exports), statistics.median(b["seconds"] for b in bares)
        print(f"median of {rounds}: the export {export_s:.2f} s (CPU {export_cpu:.2f} s), the bare dump {bare_s:.2f} s "
              f"(CPU {bare_cpu:.2f} s); wall-clock ratio {export_s / bare_s:.2f}")
        print(f"ratio to a bare dump: {export_cpu / bare_cpu:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0
