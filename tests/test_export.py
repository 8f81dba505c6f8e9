"""The weekly export: a generated week of tickets, events and opinions in a real database (SQLite,
and PostgreSQL when TEST_POSTGRES_URL is set) is exported; staff would open the workbook in
Excel, so it is read back and checked against the database's own counts, and every byte written
is searched for personal data."""
from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.styles.numbers import is_date_format

from bot.export.build import build_export, parse_formats
from db.export_queries import secret
from db.models import Opinion, Resident, Ticket, TicketEvent
from handlers.masking import mask_phone, mask_text
from handlers.reports import ExportInputError, last_week, parse_range
from tests.conftest import query_rows

pytestmark = pytest.mark.both_databases

MONDAY, SUNDAY = date(2026, 11, 16), date(2026, 11, 22)
# the week in UTC: Shanghai midnight is 16:00 UTC the day before
LO, HI = datetime(2026, 11, 15, 16, tzinfo=UTC), datetime(2026, 11, 22, 16, tzinfo=UTC)
STAFF = "staff:4242424242 @wang"
STAFF_NO_NAME = "staff:5151515151"
EXPORTED = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai, when the weekly job runs
USERS = {  # channel, user id, phone given with consent
    "a": ("telegram", "918273645", "13912345678"),
    "b": ("wechat", "oWx-Secret-Openid-77", "13587654321"),
    "c": ("telegram", "827364519", None),
    "d": ("wechat", "oWx-Another-Openid-42", "021-58881234"),
}
RAW_PHONES = ("13912345678", "13587654321", "58881234", "13700001111", "13600002222", "1360000")


def utc(day: date, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time as the UTC time the database keeps."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


async def fill_week(store) -> dict:
    """Four residents, tickets in every state of the week (and some just outside it), their
    events, and opinions; returns the residents' ids."""
    async with store.transaction() as session:
        residents = {}
        for key, (channel, user_id, phone) in USERS.items():
            row = Resident(channel=channel, user_id=user_id, phone=phone)
            session.add(row)
            await session.flush()
            residents[key] = row.id

        def ticket(n, who, at, category, status="new", text="楼下烧烤店油烟很大", place="峨山路100弄3号", **kw):
            row = Ticket(number=f"TQ-2611-{n:04d}", source_key=f"k{n}", resident_id=residents[who],
                         channel=USERS[who][0], chat_id=USERS[who][1], category=category, text=text, place=place,
                         status=status, created_at=at, response_due=at + timedelta(days=1),
                         resolution_due=at + timedelta(days=7), **kw)
            session.add(row)
            return row

        tickets = [
            ticket(1, "a", utc(MONDAY, 9), "fumes", "closed", rating=5, phone="13912345678",
                   first_response_at=utc(MONDAY, 10), resolved_at=utc(MONDAY + timedelta(days=2), 15),
                   closed_at=utc(MONDAY + timedelta(days=3), 9), assignee="李科长"),
            ticket(2, "b", utc(MONDAY, 0, 10), "noise", "resolved", text="半夜施工噪音,我的电话13600002222",
                   place="东方路1号", rating=2, first_response_at=utc(MONDAY + timedelta(days=3), 9),
                   resolved_at=utc(MONDAY + timedelta(days=4), 9)),
            ticket(3, "c", utc(MONDAY + timedelta(days=2), 14), "fumes", "in_progress",
                   first_response_at=utc(MONDAY + timedelta(days=2), 15)),
            ticket(4, "a", utc(SUNDAY, 23, 30), "sanitation", "new", text="=HYPERLINK(\"http://x\") 垃圾没人收",
                   place="塘桥新路5号"),
            ticket(5, "d", utc(MONDAY + timedelta(days=4), 11), "fumes", "duplicate", phone="021-58881234",
                   first_response_at=utc(MONDAY + timedelta(days=4), 12), closed_at=utc(MONDAY + timedelta(days=4), 12)),
            ticket(6, "b", utc(MONDAY - timedelta(days=3), 10), "noise", "closed",  # last week, resolved this week
                   first_response_at=utc(MONDAY - timedelta(days=3), 11), resolved_at=utc(MONDAY + timedelta(days=1), 10),
                   closed_at=utc(MONDAY + timedelta(days=2), 10), rating=4),
            ticket(7, "c", utc(SUNDAY + timedelta(days=1), 0, 5), "noise"),  # next Monday: not in the week
        ]
        await session.flush()
        tickets[4].duplicate_of = tickets[0].id
        session.add(tickets[4])

        def event(t, at, actor, kind, note="", frm=None, to=None, public=True):
            session.add(TicketEvent(ticket_id=t.id, at=at, actor=actor, kind=kind, note=note, from_status=frm,
                                    to_status=to, public=public))

        for t in tickets:
            event(t, t.created_at, "resident", "created", to="new")
        event(tickets[0], utc(MONDAY, 10), STAFF, "status", "已联系店主整改", "new", "acknowledged")
        event(tickets[0], utc(MONDAY, 10, 5), STAFF, "note", "居民电话13912345678,白天可联系", public=False)
        event(tickets[0], utc(MONDAY, 11), STAFF, "assign", "李科长", public=False)
        event(tickets[0], utc(MONDAY + timedelta(days=2), 15), STAFF, "status", "已安装净化器", "acknowledged", "resolved")
        event(tickets[0], utc(MONDAY + timedelta(days=3), 9), "resident", "rating", "5 星")
        event(tickets[1], utc(MONDAY + timedelta(days=1), 8), "resident", "message", "还是很吵,打我手机13600002222")
        event(tickets[1], utc(MONDAY + timedelta(days=3), 9), STAFF_NO_NAME, "status", "已转城管", "new", "in_progress")
        event(tickets[4], utc(MONDAY + timedelta(days=4), 12), STAFF, "duplicate", "同 TQ-2611-0001", "new", "duplicate")
        event(tickets[5], utc(MONDAY + timedelta(days=1), 10), STAFF, "status", "已处理", "in_progress", "resolved")
        event(tickets[5], utc(MONDAY - timedelta(days=3), 11), STAFF, "status", "收到", "new", "in_progress")  # last week

        for who, at, category, text in [
            ("a", utc(MONDAY, 8), "elderly", "希望社区食堂增加晚餐"),
            ("b", utc(MONDAY + timedelta(days=1), 20), "elderly", "老人助餐点能不能周末也开"),
            ("c", utc(MONDAY + timedelta(days=2), 9), "housing", "加装电梯的进度请公示"),
            ("d", utc(MONDAY + timedelta(days=5), 22), "other", "有事请联系我 13700001111,谢谢"),
            ("a", utc(SUNDAY, 23, 59), "other", "周日最后一分钟的意见"),
            ("b", utc(MONDAY - timedelta(days=1), 12), "housing", "上周的意见"),  # last week
            ("c", utc(SUNDAY + timedelta(days=1), 0, 1), "other", "下周的意见"),  # next week
        ]:
            session.add(Opinion(resident_id=residents[who], channel=USERS[who][0], category=category, text=text,
                                created_at=at))
    return residents


def sql(store, query: str, *args):
    return query_rows(store, query, *args)


def all_bytes(files: list[Path]) -> bytes:
    """Everything written, the workbook unzipped."""
    out = b""
    for path in files:
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as zf:
                out += b"".join(zf.read(name) for name in zf.namelist())
        else:
            out += path.read_bytes()
    return out


def sheet_rows(ws) -> list[tuple]:
    return [row for row in ws.iter_rows(min_row=3, values_only=True)]


@pytest.fixture
async def week(services, tmp_path):
    residents = await fill_week(services.store)
    result = await build_export(services.store, services, MONDAY, SUNDAY, tmp_path / "out", now=EXPORTED)
    return services, result, residents


async def test_the_workbook_has_the_weeks_rows_and_the_databases_totals(week):
    services, result, _ = week
    store = services.store
    xlsx = next(p for p in result.files if p.suffix == ".xlsx")
    book = load_workbook(xlsx)
    assert book.sheetnames == ["意见", "工单", "工单记录", "报告中没有", "汇总"]

    (opinions,), = sql(store, "select count(*) from opinion where created_at >= ? and created_at < ?", LO, HI)
    (tickets,), = sql(store, "select count(*) from ticket where created_at >= ? and created_at < ?", LO, HI)
    (events,), = sql(store, "select count(*) from ticketevent where at >= ? and at < ?", LO, HI)
    (resolved,), = sql(store, "select count(*) from ticket where resolved_at >= ? and resolved_at < ?", LO, HI)
    assert (opinions, tickets, events, resolved) == (5, 5, 14, 3)
    assert len(sheet_rows(book["意见"])) == opinions
    assert len(sheet_rows(book["工单"])) == tickets
    assert len(sheet_rows(book["工单记录"])) == events
    assert result.rows == {"opinions": opinions, "tickets": tickets, "events": events, "not_in_report": 0}

    for ws in book.worksheets:  # two header rows, frozen; widths set
        assert ws.freeze_panes == "A3"
        assert ws.column_dimensions["A"].width > 8
    assert [c.value for c in book["工单"][1]][:3] == ["工单编号", "提交时间", "渠道"]
    assert [c.value for c in book["工单"][2]][:3] == ["Number", "Created", "Channel"]

    rows = {r[0]: r for r in sheet_rows(book["工单"])}
    assert sorted(rows) == ["TQ-2611-0001", "TQ-2611-0002", "TQ-2611-0003", "TQ-2611-0004", "TQ-2611-0005"]
    created = book["工单"]["B3"]
    assert isinstance(created.value, datetime) and is_date_format(created.number_format)
    assert rows["TQ-2611-0001"][1] == datetime(2026, 11, 16, 9, 0)  # Shanghai wall clock, as staff expect
    assert rows["TQ-2611-0004"][1] == datetime(2026, 11, 22, 23, 30)
    assert rows["TQ-2611-0001"][3] == "油烟异味" and rows["TQ-2611-0001"][6] == "已办结"
    assert rows["TQ-2611-0001"][8] == pytest.approx(1.0) and rows["TQ-2611-0001"][10] == "是"
    assert rows["TQ-2611-0001"][11] == 5 and rows["TQ-2611-0001"][14] == "139****5678"
    assert rows["TQ-2611-0005"][12] == "TQ-2611-0001"  # the duplicate names its original
    assert rows["TQ-2611-0002"][10] == "否"  # answered after three days: late
    assert rows["TQ-2611-0004"][5].startswith("=HYPERLINK")  # text, not a formula
    assert book["工单"]["F" + str(3 + list(rows).index("TQ-2611-0004"))].data_type == "s"
    assert rows["TQ-2611-0001"][13] == rows["TQ-2611-0004"][13] != rows["TQ-2611-0002"][13]  # one pseudonym a resident

    notes = [r for r in sheet_rows(book["工单记录"]) if r[3] == "备注"]
    assert notes[0][6] == "内部" and notes[0][7].startswith("〔内部〕") and "139****5678" in notes[0][7]
    actors = {r[2] for r in sheet_rows(book["工单记录"])}
    assert "工作人员 @wang" in actors and any(a.startswith("工作人员 S-") for a in actors)

    summary = {r[0]: r for r in book["汇总"].iter_rows(min_row=3, values_only=True) if r and r[0]}
    assert summary["其中工单(件)"][1] == tickets and summary["其中留言意见(条)"][1] == opinions
    assert summary["收集意见合计(条)"][1] == opinions + tickets
    assert summary["解决工单(件)"][1] == resolved
    assert summary["其中工单(件)"][2] == 1 and summary["其中留言意见(条)"][2] == 1  # the week before
    by_category = dict(sql(store, "select category, count(*) from ticket where created_at >= ? and created_at < ? "
                                  "group by category", LO, HI))
    assert summary["油烟异味"][1] == by_category["fumes"] == 3 and summary["噪音扰民"][1] == 1
    by_status = dict(sql(store, "select status, count(*) from ticket where created_at >= ? and created_at < ? "
                                "group by status", LO, HI))
    assert summary["处理中"][1] == by_status["in_progress"] and summary["重复件(已合并)"][1] == by_status["duplicate"]
    assert summary["平均评分(1-5)"][1] == pytest.approx(3.5)
    assert summary["按时办理率"][1] == pytest.approx(2 / 3)  # 1 and 5 on time, 2 late, 3 and 4 not yet due

    with zipfile.ZipFile(xlsx) as zf:
        chart = zf.read("xl/charts/chart1.xml").decode()
    # the names (column A) as text, the counts (column B) as numbers; any namespace prefix
    assert "barChart>" in chart and re.search(r"<(c:)?strRef><(c:)?f>'?汇总'?!\$A\$", chart)
    assert re.search(r"<(c:)?numRef><(c:)?f>'?汇总'?!\$B\$", chart)


async def test_csv_files_open_in_excel_with_the_same_rows(week):
    services, result, _ = week
    csvs = {p.name.rsplit("-", 1)[1]: p for p in result.files if p.suffix == ".csv"}
    assert sorted(csvs) == ["events.csv", "not_in_report.csv", "opinions.csv", "summary.csv", "tickets.csv"]
    for path in csvs.values():
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    tickets = list(csv.reader(io.StringIO(csvs["tickets.csv"].read_text("utf-8-sig"))))
    assert tickets[0][0] == "工单编号" and tickets[1][0] == "Number" and len(tickets) == 2 + 5
    first = next(r for r in tickets if r[0] == "TQ-2611-0001")
    assert first[1] == "2026-11-16 09:00" and first[8] == "1.0"
    assert next(r for r in tickets if r[0] == "TQ-2611-0004")[5].startswith("'=")  # no formula when Excel opens it
    assert len(list(csv.reader(io.StringIO(csvs["opinions.csv"].read_text("utf-8-sig"))))) == 2 + 5


async def test_the_html_summary_and_the_chat_text(week):
    services, result, _ = week
    page = next(p for p in result.files if p.suffix == ".html").read_text("utf-8")
    assert "<svg" in page and "<rect" in page and "油烟异味" in page
    assert page.count("http") == page.count("http://www.w3.org/2000/svg")  # nothing fetched
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert "为老服务" in page and "希望社区食堂增加晚餐" in page and "137****1111" in page
    assert "峨山路100弄3号" in page  # the most reported place
    s = result.summary
    assert (s.collected, s.resolved, s.opinions, s.tickets) == (10, 3, 5, 5)
    assert s.previous.tickets == 1 and s.previous.opinions == 1
    assert "收集意见 10 条" in result.chat_text and "解决 3 件" in result.chat_text
    assert "油烟异味 3" in result.chat_text and len(result.chat_text) <= 1024


async def test_no_phone_number_or_user_id_is_written_anywhere(week):
    services, result, residents = week
    data = all_bytes(result.files)
    for phone in RAW_PHONES:
        assert phone.encode() not in data
    for _, user_id, _ in USERS.values():
        assert user_id.encode() not in data
    assert b"4242424242" not in data and b"5151515151" not in data  # staff ids too
    assert b"139****5678" in data and b"137****1111" in data


async def test_an_empty_week_gives_files_that_say_so(services, tmp_path):
    result = await build_export(services.store, services, date(2026, 1, 5), date(2026, 1, 11), tmp_path)
    assert {p.suffix for p in result.files} == {".xlsx", ".csv", ".html"}
    book = load_workbook(next(p for p in result.files if p.suffix == ".xlsx"))
    assert book["工单"]["A3"].value.startswith("本期没有工单")
    assert book["意见"]["A3"].value.startswith("本期没有意见")
    assert result.summary.empty and "没有收到意见和工单" in result.chat_text
    assert "本期没有收到意见和工单" in next(p for p in result.files if p.suffix == ".html").read_text("utf-8")
    with zipfile.ZipFile(next(p for p in result.files if p.suffix == ".xlsx")) as zf:
        assert "xl/charts/chart1.xml" in zf.namelist()


async def test_one_format_only_and_the_pseudonyms_stay_the_same(week, tmp_path):
    services, result, _ = week
    again = await build_export(services.store, services, MONDAY, SUNDAY, tmp_path / "again", formats=("csv",), now=EXPORTED)
    assert {p.suffix for p in again.files} == {".csv"}
    first = (tmp_path / "out" / "tangqiao-20261116-20261122-opinions.csv").read_text("utf-8-sig")
    assert (tmp_path / "again" / "tangqiao-20261116-20261122-opinions.csv").read_text("utf-8-sig") == first
    html_only = await build_export(services.store, services, MONDAY, SUNDAY, tmp_path / "html", formats=("html",),
                                   now=EXPORTED)
    assert html_only.summary == result.summary  # the figures do not depend on the formats


async def test_a_failed_export_leaves_no_files(services, tmp_path, monkeypatch):
    await fill_week(services.store)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("db.export_queries.event_batches", broken)
    with pytest.raises(RuntimeError):
        await build_export(services.store, services, MONDAY, SUNDAY, tmp_path / "out", now=EXPORTED)
    assert list((tmp_path / "out").iterdir()) == []


def test_masking():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("+86 138 1234 1234") == "138****1234"
    assert mask_phone("021-58881234") == "021-****1234"
    assert mask_text("电话 138-1234-1234 或 58881234") == "电话 138****1234 或 ****1234"
    assert mask_text("工单 TQ-2611-0042 于 2026-11-30 办结,门牌100弄3号") == "工单 TQ-2611-0042 于 2026-11-30 办结,门牌100弄3号"
    assert mask_text("身份证310115199001011234") == "身份证310115********1234"


def test_the_range_and_formats():
    assert last_week(date(2026, 11, 25)) == (date(2026, 11, 16), date(2026, 11, 22))
    assert last_week(date(2026, 11, 23)) == (date(2026, 11, 16), date(2026, 11, 22))
    assert parse_range(None, None, date(2026, 11, 29)) == (MONDAY, SUNDAY)
    assert parse_range("2026-11-16", None, date(2026, 12, 1)) == (MONDAY, SUNDAY)
    with pytest.raises(ExportInputError, match="--from 2026-11-23 is after --to 2026-11-22"):
        parse_range("2026-11-23", "2026-11-22", date(2026, 12, 1))
    with pytest.raises(ExportInputError, match="--to must be a date as YYYY-MM-DD"):
        parse_range("2026-11-16", "2026-11-31", date(2026, 12, 1))
    assert parse_formats("csv, xlsx") == ("csv", "xlsx")
    with pytest.raises(ExportInputError, match="--format"):
        parse_formats("pdf")


@pytest.mark.parametrize("args, problem", [
    (["--from", "2026-11-23", "--to", "2026-11-16"], "--from 2026-11-23 is after --to 2026-11-16"),
    (["--from", "23.11.2026"], "--from must be a date as YYYY-MM-DD"),
])
def test_the_command_line_refuses_bad_input_in_one_line(tmp_path, args, problem):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}
    done = subprocess.run([sys.executable, "-m", "bot", "export", *args, "--out", str(tmp_path)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {problem}")
    assert not list(tmp_path.glob("*.xlsx")) and not done.stdout


def test_the_command_line_writes_the_files(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}  # this checkout's bot, not an installed one
    done = subprocess.run([sys.executable, "-m", "bot", "export", "--from", "2026-11-16", "--to", "2026-11-22",
                           "--out", str(tmp_path / "x"), "--format", "xlsx,html"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == [str(tmp_path / "x" / "tangqiao-20261116-20261122.xlsx"),
                         str(tmp_path / "x" / "tangqiao-20261116-20261122-summary.html")]
    assert "塘桥居民服务周报 2026-11-16 至 2026-11-22" in done.stdout and "<b>" not in done.stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "bot.db") as conn:  # recorded: the console lists it
        assert conn.execute("SELECT start, made_by FROM exportrecord").fetchall() == [("2026-11-16", "command line")]


async def test_the_pseudonym_secret_is_made_once_and_kept(services):
    first, second = await secret(services.store.engine), await secret(services.store.engine)
    assert first == second and len(first) == 32
    assert sql(services.store, "select count(*) from secret") == [(1,)]
