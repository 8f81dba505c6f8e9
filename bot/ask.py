"""`python -m bot ask`: the evaluation contract.

Questions come as arguments or one per line on stdin; with --json each gives one line
{"q", "kind", "topic", "candidates", "score", "reply"}, in order. Nothing is stored: the
office's upcoming events are read from DATABASE_URL's database when it exists (only read: a
SQLite file that is not there is not created, nothing is migrated), so answers lead with them
as the bot's do. Settings come from the environment and `.env`, as for the bot.

Start-up is the evaluation's cost per run: without a database nothing of SQLAlchemy is imported
(the router's dialogs load on first use, handlers/lazy.py); tests/test_startup.py keeps it so.
"""
from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path

from bot.settings import Settings, SettingsError, load_settings
from bot.startup import build_core
from handlers.router import answer_text, pick_language
from handlers.types import Inbound, plain_text


def _read_only_url(url: str) -> str | None:
    """DATABASE_URL to read the events from; None for a SQLite file that does not exist (opening
    it would create it)."""
    if not url.startswith("sqlite"):
        return url
    path = Path(url.partition(":///")[2])
    return url if path.is_file() else None


async def _answer_all(settings: Settings, questions, as_json: bool, lang: str | None) -> None:
    services = build_core(settings.bot_language, settings.cache_dir)
    engine = None
    if (url := _read_only_url(settings.database_url)) is not None:
        from db.engine import make_engine, reading
        from db.events import EventBoard

        engine = make_engine(url)
        services = replace(services, events=EventBoard(reading(engine)))  # SELECTs in DEFERRED transactions: no write lock
    try:
        await _answer(services, questions, as_json, lang)
    finally:
        if engine is not None:
            await engine.dispose()


async def _answer(services, questions, as_json: bool, lang: str | None) -> None:
    for question in questions:
        question = question.rstrip("\n")
        language = lang or pick_language(Inbound("cli", "cli", "cli", text=question), None, services.default_language)
        if question.strip():
            understood = services.model.understand(question)
            if understood.read_as:  # pinyin: answered in the Chinese it spells
                language = lang or "zh"
            reply = await answer_text(understood.read_as or question, language, None, services, None, understood)
        else:
            reply = None
        text = "\n".join(plain_text(m.text) for m in reply.messages) if reply else ""
        if as_json:
            record = {
                "q": question,
                "kind": reply.kind if reply else "fallback",
                "topic": reply.topic if reply else None,
                "candidates": reply.candidates if reply else [],
                "score": reply.score if reply else 0,
                "reply": text,
            }
            print(json.dumps(record, ensure_ascii=False), flush=False)
        else:
            print(f"> {question}\n{text}\n")
    sys.stdout.flush()


def main(questions: list[str], as_json: bool, lang: str | None) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source = questions if questions else sys.stdin
    asyncio.run(_answer_all(settings, source, as_json, lang))
    return 0
