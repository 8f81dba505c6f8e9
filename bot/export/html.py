"""The export's HTML summary (also the staff console's dashboard, with the 12-week trend and the
alerts) and the short text for the moderation chat.

The page is one self-contained file (content/templates/export/summary.html.j2): inline CSS and SVG,
nothing fetched; rendered by an autoescaping environment of its own, so a resident's words are
always text.
"""
from __future__ import annotations

import html
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.export.figures import Summary, change, wall_clock
from db import export_queries as q
from handlers.masking import mask_text
from handlers.texts import TEMPLATES_DIR

HTML_TEMPLATE = "export/summary.html.j2"
OPINION_EXAMPLES = 10  # the HTML shows this many opinions of each category; the workbook has all


async def opinion_groups(conn, lo, hi, summary: Summary) -> list[dict]:
    groups = []
    for cid, title, count in summary.opinions_by_category:
        examples = await q.opinion_examples(conn, lo, hi, cid, OPINION_EXAMPLES)
        groups.append(dict(title=title, count=count,
                           examples=[(wall_clock(r.created_at), mask_text(r.text)) for r in examples]))
    return groups



def _hours(value) -> str:
    return "—" if value is None else f"{value:.1f}"


def _percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _signed(value, kind: str = "", lang: str = "zh") -> str:
    if value is None:
        return ""
    if kind == "percent":
        text = f"{abs(value) * 100:.1f} " + ("个百分点" if lang == "zh" else "points")
    elif isinstance(value, float):
        text = f"{abs(value):.1f}"
    else:
        text = f"{abs(value)}"
    return "±0" if value == 0 else ("+" if value > 0 else "−") + text


@lru_cache(maxsize=1)
def _html_environment() -> Environment:
    """Autoescaping, its own environment: a resident's words are always text in the page."""
    return Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def _chart_bars(summary: Summary, width: int = 360) -> list[dict]:
    rows = [(title, n) for _, title, n in summary.tickets_by_category if n]
    top = max((n for _, n in rows), default=0)
    return [dict(title=title, count=n, width=max(2, round(width * n / top))) for title, n in rows]


CHART = SimpleNamespace(width=640, height=170, left=44, right=12, top=10, bottom=24)
COLOURS = ("#2f6db5", "#c0392b", "#27ae60")


def _line_chart(title: str, weeks: list[Summary], series: list[tuple[str, list]], unit: str = "") -> dict:
    """One SVG line chart's geometry: a line (and dots) per series over the weeks; a week with no
    value (None) has no dot and the line skips it."""
    c = CHART
    top = max((v for _, values in series for v in values if v is not None), default=0) or 1
    step = (c.width - c.left - c.right) / max(len(weeks) - 1, 1)

    def x(i: int) -> float:
        return round(c.left + i * step, 1)

    def y(v: float) -> float:
        return round(c.top + (c.height - c.top - c.bottom) * (1 - v / top), 1)

    lines = [dict(name=name, colour=COLOURS[n % len(COLOURS)],
                  dots=[(x(i), y(v), v) for i, v in enumerate(values) if v is not None])
             for n, (name, values) in enumerate(series)]
    for line in lines:
        line["points"] = " ".join(f"{px},{py}" for px, py, _ in line["dots"])
    return dict(title=title, unit=unit, lines=lines, top=top, top_y=y(top), zero_y=y(0),
                labels=[(x(i), f"{w.start:%m-%d}") for i, w in enumerate(weeks)], chart=c)


def trend_charts(weeks: list[Summary], lang: str = "zh") -> list[dict]:
    """The dashboard's 12-week charts, from weekly_trend's figures, labelled in one language."""
    def percent(value):
        return None if value is None else round(value * 100, 1)

    def t(zh: str, en: str) -> str:
        return zh if lang == "zh" else en

    return [
        _line_chart(t("收集与解决", "Collected and resolved"), weeks,
                    [(t("收集", "collected"), [w.collected for w in weeks]), (t("解决", "resolved"), [w.resolved for w in weeks])]),
        _line_chart(t("用时中位数(工作小时)", "Median working hours"), weeks,
                    [(t("首次答复", "first response"), [w.median_first_response for w in weeks]),
                     (t("办结", "resolution"), [w.median_resolution for w in weeks])], "h"),
        _line_chart(t("按时办理率", "Share within the time limits"), weeks,
                    [(t("按时", "on time"), [percent(w.share_on_time) for w in weeks])], "%"),
    ]


def render_html(summary: Summary, groups: list[dict], now: datetime, trend: list[Summary] | None = None,
                alerts: list | None = None, console: bool = False, lang: str = "zh") -> str:
    """The summary page in one language (the export's file: Chinese; the console's dashboard: the
    console's); the dashboard adds the 12-week trend, the emergency alerts and a way back to the
    console, and points to the opinions page instead of listing them."""
    env = _html_environment()
    if console:  # the console's banner of unacknowledged emergency alerts, on the dashboard too
        from bot.staff_alerts import banner

        env.globals["alert_banner"] = banner
    return env.get_template(HTML_TEMPLATE).render(
        summary=summary, previous=summary.previous or Summary(summary.start, summary.end), groups=groups,
        bars=_chart_bars(summary), generated=wall_clock(now), console=console, lang=lang,
        t=lambda zh, en: zh if lang == "zh" else en,
        trend=trend or [], charts=trend_charts(trend, lang) if trend else [],
        alerts=[(wall_clock(a.created_at), f"{a.channel} · {a.kinds or 'general'}", mask_text(a.text),
                 f"{a.acknowledged_by} {wall_clock(a.acknowledged_at):%m-%d %H:%M}" if a.acknowledged_at else "")
                for a in alerts or []],
        fmt=SimpleNamespace(hours=_hours, percent=_percent, signed=lambda v, kind="": _signed(v, kind, lang), change=change),
    )


def chat_text(s: Summary) -> str:
    """The figures, shortened, for the moderation chat: Telegram HTML, escaped, under 1024 characters."""
    def e(text: str) -> str:
        return html.escape(text, quote=False)  # Telegram's HTML: <, > and & only

    p = s.previous or Summary(s.start, s.end)
    lines = [f"<b>塘桥居民服务周报 {s.start:%Y-%m-%d} 至 {s.end:%Y-%m-%d}</b>"]
    if s.empty:
        lines.append("本期没有收到意见和工单。")
        return "\n".join(lines + _events_line(s, e))
    lines.append(f"收集意见 {s.collected} 条(留言 {s.opinions} 条、工单 {s.tickets} 件),解决 {s.resolved} 件。")
    lines.append(f"较上期:收集 {_signed(s.collected - p.collected)},解决 {_signed(s.resolved - p.resolved)}。")
    lines.append(f"首次答复中位数 {_hours(s.median_first_response)} 工作小时,办结中位数 {_hours(s.median_resolution)} 工作小时,"
                 f"按时率 {_percent(s.share_on_time)}"
                 + (f",平均评分 {s.average_rating:.1f}({s.ratings} 条)" if s.average_rating is not None else "") + "。")
    if s.top_categories:
        lines.append("反映最多:" + "、".join(f"{e(t)} {n}" for _, t, n in s.top_categories[:3]))
    if s.top_places:
        lines.append("地点最多:" + "、".join(f"{e(_short(place))} {n}" for place, n in s.top_places[:3]))
    if s.opinions_by_category:
        lines.append("留言最多:" + "、".join(f"{e(t)} {n}" for _, t, n in s.opinions_by_category[:3]))
    return "\n".join(lines + _events_line(s, e))


def _events_line(s: Summary, e) -> list[str]:
    if not (s.events_published or s.notices_delivered or s.subscribers):
        return []
    return [f"活动通知:发布 {s.events_published} 场,送达 {s.notices_delivered} 条;订阅 "
            + ("、".join(f"{e(t)} {n} 人" for _, t, n in s.subscribers) or "0 人") + "。"]


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

