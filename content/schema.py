"""Schema of the content base: one YAML file per area under content/areas/.

A file looks like this (every field is required unless marked optional):

    area:
      id: elderly                     # short ascii id, unique across files
      title: {zh: 为老服务, en: Services for seniors}
      order: 10                       # position in the /start menu
    entries:
      - id: elderly_milk_voucher      # topic id of ../shared/eval/topics.json (or a new one)
        title: {zh: 高龄老人牛奶券, en: Milk vouchers for the oldest residents}
        answer:                       # plain resident language, only what the report supports,
          zh: ...                     # then where to go next (居委会, the centre the report names, 12345)
          en: ...
        questions:                    # how residents would ask, colloquial; optional
          zh: [...]
          en: [...]
        keywords:                     # words residents use (colloquial and official)
          zh: [...]
          en: [...]
        related: [elderly_preferential_card]   # optional, ids of other entries
        source:                       # quotes that appear verbatim in content/source/report.txt
          - 发放高龄老人牛奶券2731张
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

LANGS = ("zh", "en")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """A text in both languages."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


class Phrases(_Strict):
    """Lists of phrases in both languages (either list may be empty)."""

    zh: list[str] = []
    en: list[str] = []

    @field_validator("zh", "en")
    @classmethod
    def _no_blank(cls, v: list[str]) -> list[str]:
        if any(not str(p).strip() for p in v):
            raise ValueError("blank phrase")
        return [str(p).strip() for p in v]


class Entry(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: Text
    answer: Text
    questions: Phrases = Phrases()
    keywords: Phrases
    related: list[str] = []
    source: list[str] = Field(min_length=1)
    area: str = ""  # filled in by the loader from the file's area


class Area(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: Text
    order: int = 100


class AreaFile(_Strict):
    area: Area
    entries: list[Entry] = Field(min_length=1)
