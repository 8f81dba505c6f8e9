"""The export's rows: opinions, tickets and their events, and the summary, as the workbook's sheets
and the CSV files get them (bot/export/files.py), personal data masked.

As PIPL expects: no names, no platform user ids (a resident is a stable pseudonym, HMAC-SHA256 of
their resident id with this installation's secret), phone numbers masked as 138****1234 - the
phone field and any number a resident typed in a text.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from functools import lru_cache

from bot.export.figures import (
    STATUSES,
    Summary,
    TimeFigures,
    change,
    opinion_category_title,
    ticket_category_title,
    ticket_timing,
    wall_clock,
)
from bot.export.files import EVENTS, NOT_IN_REPORT, OPINIONS, SUMMARY, TICKETS, Outputs
from db import export_queries as q
from handlers.masking import mask_phone, mask_text

CHANNELS = {"telegram": "Telegram", "wechat": "微信", "console": "控制台"}
KINDS = {"created": "提交", "status": "状态变更", "note": "备注", "assign": "指派", "category": "改分类",
         "message": "居民补充", "reply": "答复居民", "rating": "评价", "duplicate": "标记重复", "chase": "催办"}
ON_TIME = {True: "是", False: "否", None: "未到期"}


class Pseudonyms:
    """Stable pseudonyms: the same resident is the same R-... in every export of this installation."""

    def __init__(self, secret: bytes):
        self._secret = secret
        self.resident = lru_cache(maxsize=65536)(self._resident)
        self.actor = lru_cache(maxsize=65536)(self._actor)  # a week's events name the same few people again and again

    def _digest(self, message: str) -> str:
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()[:12]

    def _resident(self, resident_id: int) -> str:
        return f"R-{self._digest(f'resident:{resident_id}')}"

    def _actor(self, actor: str, resident_id: int) -> str:
        """Who did it: the ticket's resident as their pseudonym, staff by name (never by id)."""
        if actor == "resident":
            return f"居民 {self.resident(resident_id)}"
        if actor == "system":
            return "系统"
        if actor.startswith("staff:"):
            staff_id, _, name = actor[len("staff:"):].partition(" ")
            return f"工作人员 {mask_text(name.strip())}" if name.strip() else f"工作人员 S-{self._digest(f'staff:{staff_id}')}"
        if actor.startswith("web:"):  # an account of the staff web console
            return f"工作人员 {mask_text(actor[len('web:'):])}"
        return f"其他 X-{self._digest(actor)}"


async def opinion_sheet(conn, outputs: Outputs, lo, hi, pseudonyms: Pseudonyms, services) -> int:
    outputs.begin(OPINIONS)
    titles: dict[str, str] = {}
    written = 0
    async for batch in q.opinion_batches(conn, lo, hi):
        for _id, created_at, channel, category, text, resident_id in batch:  # (unpacked: a Row's names cost more)
            title = titles.get(category) or titles.setdefault(category, opinion_category_title(category, services))
            outputs.row([wall_clock(created_at), CHANNELS.get(channel, channel or None), title,
                         mask_text(text), pseudonyms.resident(resident_id)])
        written += len(batch)
    if not written:
        outputs.note(OPINIONS.empty)
    return written


async def ticket_sheet(conn, outputs: Outputs, lo, hi, pseudonyms: Pseudonyms, services, times: TimeFigures,
                        now: datetime) -> int:
    outputs.begin(TICKETS)
    calendar = services.tickets.calendar
    written = 0
    async for batch in q.ticket_batches(conn, lo, hi):
        for row in batch:
            timing = ticket_timing(row, calendar, now)
            times.add(timing)
            outputs.row([
                row.number, wall_clock(row.created_at), CHANNELS.get(row.channel, row.channel),
                ticket_category_title(row.category, services), mask_text(row.place) or None, mask_text(row.text),
                STATUSES.get(row.status, row.status), row.assignee or None,
                timing.first_response, timing.resolution, ON_TIME[timing.on_time], row.rating, row.duplicate_of,
                pseudonyms.resident(row.resident_id), mask_phone(row.phone) or None,
            ])
        written += len(batch)
    if not written:
        outputs.note(TICKETS.empty)
    return written


async def event_sheet(conn, outputs: Outputs, lo, hi, pseudonyms: Pseudonyms) -> int:
    outputs.begin(EVENTS)
    written = 0
    async for batch in q.event_batches(conn, lo, hi):
        for _id, at, number, resident_id, actor, kind, from_status, to_status, note, public in batch:
            note = mask_text(note)
            if note and not public:
                note = f"〔内部〕{note}"
            outputs.row([
                number, wall_clock(at), pseudonyms.actor(actor, resident_id), KINDS.get(kind, kind),
                STATUSES.get(from_status, from_status), STATUSES.get(to_status, to_status),
                "公开" if public else "内部", note or None,
            ])
        written += len(batch)
    if not written:
        outputs.note(EVENTS.empty)
    return written



async def not_in_report_sheet(conn, outputs: Outputs, lo, hi) -> int:
    """What residents asked that the report has no answer for (staff labelled it so on the review
    page), similar questions together, the most frequent first; returns the number of clusters."""
    from db.review import not_in_report_rows
    from handlers.themes import themes

    outputs.begin(NOT_IN_REPORT)
    clusters = themes(await not_in_report_rows(conn, lo, hi))
    for cluster in clusters:
        outputs.row([mask_text(cluster.text), cluster.count, "；".join(mask_text(t) for t in cluster.others) or None,
                     wall_clock(cluster.at)])
    if not clusters:
        outputs.note(NOT_IN_REPORT.empty)
    return len(clusters)


def _period(summary: Summary) -> str:
    return f"{summary.start} 至 {summary.end}"


def summary_sheet(outputs: Outputs, s: Summary) -> None:
    p = s.previous or Summary(s.start, s.end)
    outputs.begin(SUMMARY)
    figures = [
        ("统计区间", _period(s), _period(p), None, "Period (Asia/Shanghai, inclusive)"),
        ("收集意见合计(条)", s.collected, p.collected, s.collected - p.collected, "Collected: opinions and tickets"),
        ("其中留言意见(条)", s.opinions, p.opinions, s.opinions - p.opinions, "Opinions"),
        ("其中工单(件)", s.tickets, p.tickets, s.tickets - p.tickets, "Tickets"),
        ("解决工单(件)", s.resolved, p.resolved, s.resolved - p.resolved, "Tickets resolved in the period"),
        ("首次答复中位数(工作小时)", s.median_first_response, p.median_first_response,
         change(s.median_first_response, p.median_first_response), "Median first response (working hours)"),
        ("办结用时中位数(工作小时)", s.median_resolution, p.median_resolution,
         change(s.median_resolution, p.median_resolution), "Median resolution time (working hours)"),
        ("按时办理率", s.share_on_time, p.share_on_time, change(s.share_on_time, p.share_on_time),
         "Share within time limits (of tickets decided)"),
        ("按时/超时/未到期(件)", f"{s.on_time}/{s.late}/{s.pending}", f"{p.on_time}/{p.late}/{p.pending}", None,
         "On time / late / not yet due"),
        ("平均评分(1-5)", s.average_rating, p.average_rating, change(s.average_rating, p.average_rating), "Average rating"),
        ("评价数(件)", s.ratings, p.ratings, s.ratings - p.ratings, "Ratings given"),
        ("发布活动通知(场)", s.events_published, p.events_published, s.events_published - p.events_published,
         "Events published (the office's notices)"),
        ("送达订阅通知(条)", s.notices_delivered, p.notices_delivered, s.notices_delivered - p.notices_delivered,
         "Notices delivered to subscribers"),
    ]
    outputs.rows([list(f) for f in figures])
    if s.empty:
        outputs.note(SUMMARY.empty)

    outputs.blank()
    outputs.headers(["工单分类", "工单数", "上期", "变化"], ["Ticket category", "Tickets", "Previous period", "Change"])
    first = outputs.xlsx.rows + 1 if outputs.xlsx else 0
    outputs.rows([[title, n, p.ticket_count(cid), n - p.ticket_count(cid)] for cid, title, n in s.tickets_by_category])
    if outputs.xlsx and s.tickets_by_category:
        outputs.xlsx.chart("本期工单分类 Tickets by category", first, [title for _, title, _ in s.tickets_by_category],
                           [n for _, _, n in s.tickets_by_category], "G3")

    outputs.blank()
    outputs.headers(["工单状态", "工单数"], ["Ticket status", "Tickets"])
    outputs.rows([[label, n] for _, label, n in s.tickets_by_status] or [["(无)", 0]])

    outputs.blank()
    outputs.headers(["意见分类", "意见数", "上期", "变化"], ["Opinion category", "Opinions", "Previous period", "Change"])
    outputs.rows([[title, n, p.opinion_count(cid), n - p.opinion_count(cid)] for cid, title, n in s.opinions_by_category]
                 or [["(无)", 0]])

    outputs.blank()
    outputs.headers(["订阅主题", "订阅人数(期末)"], ["Subscription topic", "Subscribers (at the end)"])
    outputs.rows([[title, n] for _, title, n in s.subscribers] or [["(无)", 0]])

    outputs.blank()
    outputs.headers(["反映最多的地点", "工单数"], ["Most reported places", "Tickets"])
    outputs.rows([[place, n] for place, n in s.top_places] or [["(无)", 0]])

