"""The staff's canned replies as the office has them: the files of content/templates/canned/ (the
seed) with the office's edits over them (db/canned.py)."""
from __future__ import annotations

from db import canned
from handlers.services import Services


def seed(services: Services) -> dict[str, tuple[str, str, str]]:
    """The files' replies: name -> (Chinese title, English title, text)."""
    texts = services.texts

    def title(name: str, lang: str) -> str:
        return texts.labels.get(f"canned_{name}", {}).get(lang) or name

    return {name: (title(name, "zh"), title(name, "en"), texts.render(f"canned/{name}", "zh")) for name in texts.canned()}


async def replies(services: Services) -> dict[str, canned.Canned]:
    async with services.store.transaction() as session:
        return await canned.replies(session, seed(services))
