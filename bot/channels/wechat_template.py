"""WeChat's template message (模板消息), for a resident who has not written for 48 hours: WeChat
then refuses customer-service messages (45015), but a template message the office applied for
still reaches them. It says that there is a reply (the ticket's number, status, the reply's
first words); the full text is handed over when the resident next writes (bot/delivery.py).

Which template, and which of its fields carries what, are settings (WECHAT_TEMPLATE_ID,
WECHAT_TEMPLATE_FIELDS, WECHAT_TEMPLATE_URL; README, "WeChat"): the office picks a template from
WeChat's library, whose field names (thing1, character_string2, time3, ...) differ from one
template to the next.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.clock import SHANGHAI
from db.models import OutboxMessage, Ticket
from handlers.texts import Texts
from handlers.types import plain_text

FIELD_LIMIT = 20  # characters WeChat takes in a field ("thing" fields); longer values are refused (47003)
TITLES = {"reply": "wechat_title_reply", "status": "wechat_title_status", "notice": "wechat_title_notice"}


@dataclass(frozen=True)
class Template:
    template_id: str
    fields: tuple[tuple[str, str], ...]  # (the template's field, one of bot.settings.TEMPLATE_VALUES)
    url: str | None
    texts: Texts

    @classmethod
    def of(cls, settings, texts: Texts) -> Template | None:
        if not settings.wechat_template_id:
            return None
        return cls(settings.wechat_template_id, settings.wechat_template_fields, settings.wechat_template_url, texts)

    def data(self, row: OutboxMessage, ticket: Ticket | None, now: datetime, lang: str = "zh") -> dict[str, str]:
        """The fields' values for this row, each cut to what WeChat takes, none empty."""
        title = self.texts.label(TITLES.get(row.purpose, "wechat_title_other"), lang)
        lines = [line.strip() for line in row.text.splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].startswith("<b>") and lines[0].endswith("</b>"):
            lines = lines[1:]  # the heading (街道办答复(工单 ...)): the number and title say it
        first_line = plain_text(lines[0]) if lines else title
        values = {
            "title": title,
            "number": ticket.number if ticket is not None else title,
            "status": self.texts.status(ticket.status, lang) if ticket is not None else title,
            "summary": first_line,
            "time": f"{now.astimezone(SHANGHAI):%Y-%m-%d %H:%M}",
            "hint": self.texts.label("wechat_template_hint", lang),
        }
        return {name: _cut(values[what]) for name, what in self.fields}


def _cut(value: str) -> str:
    return value if len(value) <= FIELD_LIMIT else value[:FIELD_LIMIT - 1] + "…"
