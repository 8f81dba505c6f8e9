"""`python -m bot content eval | examples export | rollback`: what staff's approved examples
change, writing them to content/examples/ for the repository, and going back to the model before
the last approval (issue 25)."""
from __future__ import annotations

import json
from pathlib import Path

from content.learning import STYLE, as_examples, compare
from content.loader import ContentBase
from content.model import EXAMPLES_DIR

EXPORT_FILE = "reviewed.jsonl"  # in content/examples/


async def approved(database_url: str) -> list[tuple[str, str]]:
    """(text, label) of the approved examples the current model learned from."""
    from db import review
    from db.store import Store

    store = await Store.open(database_url)
    try:
        async with store.transaction() as session:
            return await review.trained_examples(session, None)
    finally:
        await store.close()


def approved_changes(content: ContentBase, pairs: list[tuple[str, str]], examples_dir: Path = EXAMPLES_DIR) -> str:
    """What the approved examples change in the cross-validated figures of content/examples, per label."""
    extra = as_examples(pairs, content, examples_dir)
    if not extra:
        return "no approved examples beyond content/examples"
    return compare(content, [], extra, examples_dir).report()


def export_examples(content: ContentBase, pairs: list[tuple[str, str]], examples_dir: Path = EXAMPLES_DIR) -> int:
    """Append the approved examples content/examples/ lacks (the same normalised text and label)
    to reviewed.jsonl; returns how many."""
    new = as_examples(pairs, content, examples_dir)
    if new:
        with (examples_dir / EXPORT_FILE).open("a", encoding="utf-8") as out:
            for e in new:
                out.write(json.dumps({"q": e.text, "label": e.label, "style": STYLE}, ensure_ascii=False) + "\n")
    return len(new)


async def rollback(database_url: str) -> str:
    """The newest active model version rolled back; every process answers with the one before."""
    from db import review
    from db.store import Store

    store = await Store.open(database_url)
    try:
        async with store.transaction() as session:
            gone = await review.rollback(session)
            now = await review.current(session)
    finally:
        await store.close()
    if gone is None:
        return "nothing to roll back: the bot answers with the model of the content files"
    after = f"version {now.id}" if now is not None else "the model of the content files"
    return (f"rolled back model version {gone.id} ({gone.examples} approved examples, now labelled again); "
            f"the bot answers with {after} within MODEL_POLL_SECONDS")
