"""The templates' half of `python -m bot content check`: every reply's wording renders as the
bot renders it, and every button label has both languages."""
from __future__ import annotations

from datetime import UTC, datetime

from jinja2 import TemplateError

from content.aspects import ASPECTS
from content.loader import ContentBase, Problem
from db.models import Ticket, TicketEvent
from handlers.texts import Texts


def check_templates(base: ContentBase, texts: Texts | None = None) -> list[Problem]:
    """Every template renders in both languages (the answer for every entry), and every label
    has both; rendered with values shaped like the real ones."""
    problems = []
    texts = texts or Texts()
    entries = list(base.entries.values())
    values = sample_values(base)
    for name in texts.names():
        for lang in ("zh", "en"):
            try:
                texts.render(name, lang, **values)
                if name == "answer":
                    for entry in entries:
                        texts.render(name, lang, entry=entry)
                if name == "aspect":  # each verdict of a yes/no question, each aspect
                    for aspect in (*ASPECTS, "exist"):
                        for verdict in ("yes", "no", "planned", "not_stated"):
                            for line, lacks in ((None, False), ("报告写到", False), ("报告没有写明", True)):
                                texts.render(name, lang, aspect=aspect, line=line, verdict=verdict, lacks=lacks)
            except TemplateError as exc:
                problems.append(Problem(f"templates/{name}.j2", "", f"does not render ({lang}): {exc}"))
    for key, label in texts.labels.items():
        for lang in ("zh", "en"):
            if not str(label.get(lang, "")).strip():
                problems.append(Problem("templates/labels.yaml", key, f"no {lang} label"))
    return problems


def sample_values(base: ContentBase) -> dict:
    """Values every template can be rendered with, shaped like the real ones."""
    entries = list(base.entries.values())
    return dict(entry=entries[0] if entries else None, entries=entries[:3], area=base.areas[0] if base.areas else None,
                thanks=False, helpful=False, aspect="cost", line=None, verdict=None, lacks=False, **_ticket_samples())


def _ticket_samples() -> dict:
    """Values the ticket templates are rendered with, shaped like the real ones."""
    now = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    ticket = Ticket(id=1, number="TQ-2611-0001", source_key="x", resident_id=1, channel="telegram", chat_id="1",
                    category="noise", text="<楼下>半夜施工 & 噪音", place="峨山路1号", phone="13800001234", status="resolved",
                    created_at=now, response_due=now, resolution_due=now, latitude=31.2, longitude=121.5)
    event = TicketEvent(ticket_id=1, actor="resident", kind="created", at=now, note="")
    return dict(ticket=ticket, older=ticket, intake={"text": "噪音", "phone": None},
                tickets=[ticket], events=[event], describe=lambda e: e.kind, count=1, limit=5, text="答复<b>",
                message="提醒", stage="response_late", category="噪音扰民", place="峨山路", photos=0, photo_count=1,
                note="已处理", number="TQ-2611-0001", reopened=False, ask_comment=True, invalid=False, again=False, pin=True,
                advice=["拨打120"], specific=True, mention=None, alerted=True, channel="telegram", kinds="medical", numbers="120",
                what="relayed", category_of=str, age=lambda moment: "1小时", late=lambda t: True, by_status=[("new", 1)],
                by_category=[("noise", 1)], overdue=0)
