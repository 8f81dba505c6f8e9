"""Reply wording: Jinja2 templates and button labels in content/templates/.

Templates autoescape, so a resident's words can go into them safely; they produce the small
HTML subset Telegram accepts (<b>, <i>, <blockquote>).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from content.loader import CITATION, CONTENT_DIR
from db.clock import SHANGHAI

TEMPLATES_DIR = CONTENT_DIR / "templates"


def when(moment: datetime | None, lang: str = "zh") -> str:
    """A stored UTC time as Shanghai local time: 11月30日 14:00 / 30 Nov 14:00."""
    if moment is None:
        return ""
    local = moment.astimezone(SHANGHAI)
    if (local.hour, local.minute) == (0, 0):  # a deadline at midnight is the end of the day before, as people say it
        day = local - timedelta(days=1)
        return f"the end of {day:%d %b}" if lang == "en" else f"{day.month}月{day.day}日 24:00"
    return local.strftime("%d %b %H:%M") if lang == "en" else f"{local.month}月{local.day}日 {local:%H:%M}"


class Texts:
    def __init__(self, directory: Path = TEMPLATES_DIR):
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,  # a typo in a template fails the content check, not a resident
            keep_trailing_newline=False,
        )
        self.env.filters["when"] = when
        self.labels: dict[str, dict[str, str]] = yaml.load((directory / "labels.yaml").read_text("utf-8"), Loader=yaml.CSafeLoader)
        self._rendered: dict[tuple[str, str, str], str] = {}

    def render(self, name: str, lang: str, **values) -> str:
        values.setdefault("status", lambda state: self.status(state, lang))
        text = self.env.get_template(f"{name}.j2").render(lang=lang, citation=CITATION[lang], **values)
        return text.strip()

    def render_once(self, name: str, lang: str, key: str, **values) -> str:
        """render() for a text that depends on `key` alone (an entry's answer: the content is
        fixed while the bot runs), made the first time it is asked for."""
        text = self._rendered.get((name, lang, key))
        if text is None:
            text = self._rendered[(name, lang, key)] = self.render(name, lang, **values)
        return text

    def canned(self) -> list[str]:
        """Names of the staff's canned replies (content/templates/canned/*.j2)."""
        return sorted(t[len("canned/"):-3] for t in self.env.list_templates(extensions=["j2"]) if t.startswith("canned/"))

    def status(self, state: str, lang: str) -> str:
        return self.label(f"status_{state}", lang)

    def label(self, name: str, lang: str) -> str:
        return self.labels[name][lang]

    def statuses(self, lang: str) -> dict[str, str]:
        """Each ticket status and its name, in life-cycle order: what residents, staff and the export all say."""
        return {name[len("status_"):]: label[lang] for name, label in self.labels.items() if name.startswith("status_")}

    def names(self) -> list[str]:
        return sorted(t[:-3] for t in self.env.list_templates(extensions=["j2"]))
