"""Guess a ticket's category from its text (content/categories.yaml); staff can change it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from content.loader import CONTENT_DIR
from content.normalize import normalize
from content.schema import Text

CATEGORIES_PATH = CONTENT_DIR / "categories.yaml"
OTHER = "other"


@dataclass(frozen=True)
class Category:
    id: str
    title: Text
    words: tuple[str, ...]


class Categories:
    def __init__(self, path: Path = CATEGORIES_PATH):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        self.by_id = {
            cid: Category(cid, Text(**spec["title"]), tuple(normalize(w) for w in spec.get("words", [])))
            for cid, spec in data.items()
        }
        if OTHER not in self.by_id:
            raise ValueError(f"{path.name}: the category {OTHER!r} is required")

    def guess(self, text: str) -> str:
        """The category with the most distinct words in the text; the first listed wins a tie."""
        text = normalize(text)
        best, best_hits = OTHER, 0
        for category in self.by_id.values():
            hits = sum(1 for w in category.words if w in text)
            if hits > best_hits:
                best, best_hits = category.id, hits
        return best

    def title(self, category_id: str, lang: str) -> str:
        category = self.by_id.get(category_id) or self.by_id[OTHER]
        return category.title.get(lang)
