"""The export's files: the sheets' columns, and the writers that get the same rows - the
workbook (XlsxWriter) and one CSV file per sheet - fed by `Outputs` in one pass.

A value's Python type decides its cell: str is text (never a formula), int a number, datetime
a date (Shanghai wall clock), Hours / Percent / float a number with the format of NUMBER_FORMATS.
"""
from __future__ import annotations

import contextlib
import csv
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import xlsxwriter

from bot.export.figures import Hours, Percent

# -- the sheets ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    zh: str
    en: str
    width: float


@dataclass(frozen=True)
class Sheet:
    key: str  # the CSV file's suffix
    title: str  # the workbook sheet's name
    columns: tuple[Column, ...]
    empty: str  # the line an empty week shows


OPINIONS = Sheet("opinions", "意见", (
    Column("提交时间", "Submitted", 17), Column("渠道", "Channel", 10), Column("分类", "Category", 16),
    Column("内容", "Text", 80), Column("居民(化名)", "Resident (pseudonym)", 17),
), "本期没有意见 / No opinions in this period")
TICKETS = Sheet("tickets", "工单", (
    Column("工单编号", "Number", 14), Column("提交时间", "Created", 17), Column("渠道", "Channel", 10),
    Column("分类", "Category", 16), Column("地点", "Place", 28), Column("内容", "Text", 60),
    Column("状态", "Status", 12), Column("承办人", "Assignee", 12),
    Column("首次答复(工作小时)", "First response (working hours)", 12),
    Column("办结用时(工作小时)", "Resolution (working hours)", 12), Column("是否按时", "Within time limit", 10),
    Column("评分", "Rating", 7), Column("重复于", "Duplicate of", 14),
    Column("居民(化名)", "Resident (pseudonym)", 17), Column("电话(已隐去)", "Phone (masked)", 14),
), "本期没有工单 / No tickets in this period")
EVENTS = Sheet("events", "工单记录", (
    Column("工单编号", "Ticket", 14), Column("时间", "Time", 17), Column("操作人", "Actor", 22),
    Column("类型", "Kind", 10), Column("原状态", "From", 12), Column("新状态", "To", 12),
    Column("可见范围", "Visibility", 9), Column("说明", "Note", 70),
), "本期没有工单记录 / No ticket events in this period")
NOT_IN_REPORT = Sheet("not_in_report", "报告中没有", (
    Column("居民问的(最近一条)", "What residents asked (the newest)", 50), Column("次数", "Times", 8),
    Column("其他说法", "Other wordings", 70), Column("最近一次", "Latest", 17),
), "本期没有标为“报告中没有”的问题 / No questions labelled \"not in the report\" in this period")
SUMMARY = Sheet("summary", "汇总", (
    Column("指标", "Figure", 26), Column("本期", "This period", 24),
    Column("上期", "Previous period", 24), Column("变化", "Change", 10),
    Column("英文", "In English", 40),
), "本期没有收到意见和工单 / Nothing was collected in this period")



NUMBER_FORMATS = {datetime: "yyyy-mm-dd hh:mm", Hours: "0.0", Percent: "0.0%", float: "0.00"}
EXCEL_EPOCH, DAY = datetime(1899, 12, 30), timedelta(days=1)
HEADER = {"bold": True, "bg_color": "#DDEBF7", "text_wrap": True, "valign": "top"}
ENGLISH = {"italic": True, "font_color": "#666666", "text_wrap": True, "valign": "top"}
NOTE = {"italic": True, "font_color": "#666666"}
_AS_IS = (int, type(None))  # what the csv module writes as the export would
_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # Excel runs a CSV cell that starts so
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # characters a cell cannot hold (XlsxWriter would escape them)


def _undecorated(method):
    """The function under XlsxWriter's cell-notation decorator (functools.wraps keeps it), to be
    called with the worksheet first; the method itself should a version not have one."""
    function = getattr(method, "__func__", None)
    inner = getattr(function, "__wrapped__", None)
    return inner if inner is not None else (lambda _ws, *args: method(*args))


class XlsxOut:
    """The workbook, written by XlsxWriter in constant-memory mode: each row goes to disk as it
    is written. (openpyxl's write-only mode took twice as long: ~9 us a cell against ~4.5.)"""

    def __init__(self, path: Path):
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self.book = xlsxwriter.Workbook(str(self.part), {
            "constant_memory": True,
            # a resident's "=..." or "http://..." or "123" is text, as they wrote it
            "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
        })
        self.formats = {kind: self.book.add_format({"num_format": f}) for kind, f in NUMBER_FORMATS.items()}
        self.header_format, self.english_format = self.book.add_format(HEADER), self.book.add_format(ENGLISH)
        self.note_format = self.book.add_format(NOTE)
        self.ws = None
        self._writes = ()
        self.title = ""
        self.rows = 0  # rows written to the current sheet, headers included

    def begin(self, sheet: Sheet) -> None:
        self.ws, self.title, self.rows = self.book.add_worksheet(sheet.title), sheet.title, 0
        # write_string and write_number without their decorator, which only turns "A1" into
        # (row, column): a tenth of the workbook's time for a million cells given as numbers
        self._writes = _undecorated(self.ws.write_string), _undecorated(self.ws.write_number)
        for index, column in enumerate(sheet.columns):
            self.ws.set_column(index, index, column.width)
        self.ws.freeze_panes(2, 0)  # both header rows stay in view
        self.headers([c.zh for c in sheet.columns], [c.en for c in sheet.columns])

    def headers(self, zh: list[str], en: list[str]) -> None:
        self.ws.write_row(self.rows, 0, zh, self.header_format)
        self.ws.write_row(self.rows + 1, 0, en, self.english_format)
        self.rows += 2

    def row(self, values: list) -> None:
        ws, row, formats, write_string, write_number = self.ws, self.rows, self.formats, *self._writes
        for column, value in enumerate(values):
            kind = type(value)
            if kind is str:  # (isprintable: no control character, so nothing to take out; 0.1 us against 0.4)
                write_string(ws, row, column, value if value.isprintable() else _CONTROL.sub("", value))
            elif kind is int:
                write_number(ws, row, column, value)
            elif kind is datetime:  # what Excel keeps: days since 1899-12-30, with a date format
                write_number(ws, row, column, (value - EXCEL_EPOCH) / DAY, formats[datetime])
            elif value is not None:
                write_number(ws, row, column, value, formats[kind])
        self.rows += 1

    def note(self, text: str) -> None:
        self.ws.write_string(self.rows, 0, text, self.note_format)
        self.rows += 1

    def blank(self) -> None:
        self.rows += 1

    def chart(self, title: str, first_row: int, names: list[str], counts: list[int], anchor: str) -> None:
        """A native bar chart of column B (counts) by column A (names), rows from first_row
        (1-based) on. The values go in too: in constant-memory mode XlsxWriter cannot read them
        back, and without them the names would be taken for numbers."""
        last_row = first_row + len(names) - 1
        chart = self.book.add_chart({"type": "bar"})
        chart.add_series({"name": "工单数", "categories": [self.title, first_row - 1, 0, last_row - 1, 0],
                          "values": [self.title, first_row - 1, 1, last_row - 1, 1],
                          "categories_data": names, "values_data": counts})
        chart.set_title({"name": title})
        chart.set_legend({"none": True})
        chart.set_x_axis({"name": "件 / tickets", "major_gridlines": {"visible": False}})
        chart.set_y_axis({"reverse": True})  # first category on top, as in the table
        chart.set_size({"width": 680, "height": 340})
        self.ws.insert_chart(anchor, chart)

    async def close(self) -> Path:
        self.book.close()  # zips the sheets
        os.replace(self.part, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the workbook and its temporary files."""
        with contextlib.suppress(Exception):  # already failing: the first error is the one to report
            self.book.close()
        self.part.unlink(missing_ok=True)


class CsvOut:
    """One CSV file per sheet, UTF-8 with a BOM so Excel shows Chinese, the same two header rows."""

    def __init__(self, stem: Path):
        self.stem = stem
        self.files: list[Path] = []
        self._file = None
        self._writer = None
        self._path: Path | None = None

    def begin(self, sheet: Sheet) -> None:
        self._finish()
        self._path = self.stem.with_name(f"{self.stem.name}-{sheet.key}.csv")
        self._file = open(self._path.with_name(self._path.name + ".part"), "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._file)
        self.headers([c.zh for c in sheet.columns], [c.en for c in sheet.columns])

    def headers(self, zh: list[str], en: list[str]) -> None:
        self._writer.writerow(zh)
        self._writer.writerow(en)

    def row(self, values: list) -> None:
        # by type, as the workbook writes them; the csv module writes int, None (as "") and a text
        # that cannot start a formula as they are
        text = self._text
        self._writer.writerow([v if type(v) in _AS_IS or (type(v) is str and not v.startswith(_FORMULA)) else text(v)
                               for v in values])

    @staticmethod
    def _text(value) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            # Excel runs a cell that starts like a formula: a resident's text must not
            return "'" + value if value.startswith(_FORMULA) else value
        if isinstance(value, datetime):
            return value.isoformat(" ", "minutes")  # 2026-11-30 09:05, as strftime("%Y-%m-%d %H:%M") in a fifth of its time
        if isinstance(value, Percent):
            return f"{value * 100:.1f}%"
        if isinstance(value, Hours):
            return f"{value:.1f}"
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value)

    def note(self, text: str) -> None:
        self._writer.writerow([text])

    def blank(self) -> None:
        self._writer.writerow([])

    def _finish(self) -> None:
        if self._file is not None:
            self._file.close()
            os.replace(self._file.name, self._path)
            self.files.append(self._path)
            self._file = None

    async def close(self) -> list[Path]:
        self._finish()
        return self.files

    def abort(self) -> None:
        """Remove this export's CSV files, finished or not: a partial export is no export."""
        if self._file is not None:
            self._file.close()
            Path(self._file.name).unlink(missing_ok=True)
            self._file = None
        for path in self.files:
            path.unlink(missing_ok=True)


class Outputs:
    """The workbook and the CSV files, fed row by row in one pass."""

    def __init__(self, outs: list):
        self.outs = outs
        self.xlsx = next((o for o in outs if isinstance(o, XlsxOut)), None)

    def __bool__(self) -> bool:
        return bool(self.outs)

    def begin(self, sheet: Sheet) -> None:
        for out in self.outs:
            out.begin(sheet)

    def row(self, values: list) -> None:
        for out in self.outs:
            out.row(values)

    def rows(self, rows: Iterable[list]) -> None:
        for values in rows:
            self.row(values)

    def headers(self, zh: list[str], en: list[str]) -> None:
        for out in self.outs:
            out.headers(zh, en)

    def note(self, text: str) -> None:
        for out in self.outs:
            out.note(text)

    def blank(self) -> None:
        for out in self.outs:
            out.blank()

    async def close(self) -> list[Path]:
        files: list[Path] = []
        for out in self.outs:
            closed = await out.close()
            files += closed if isinstance(closed, list) else [closed]
        return files

    def abort(self) -> None:
        for out in self.outs:
            out.abort()


