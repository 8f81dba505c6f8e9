"""`python -m bot ask`: the evaluation contract.

Questions come as arguments or one per line on stdin; with --json each gives one line
{"q", "kind", "topic", "candidates", "score", "reply"}, in order. Nothing is stored.
"""
from __future__ import annotations

import asyncio
import json
import sys

from bot.startup import build_core
from handlers.router import answer_text, pick_language
from handlers.types import Inbound, plain_text


async def _answer_all(questions, as_json: bool, lang: str | None) -> None:
    services = build_core()
    for question in questions:
        question = question.rstrip("\n")
        language = lang or pick_language(Inbound("cli", "cli", "cli", text=question), None, "zh")
        if question.strip():
            reply = await answer_text(question, language, None, services)
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
    source = questions if questions else sys.stdin
    asyncio.run(_answer_all(source, as_json, lang))
    return 0
