"""`python -m bot events add|list|publish|withdraw|status`: the office's events, for scripts.

Times are Shanghai wall clock, "YYYY-MM-DD HH:MM". Invalid input gets one line on stderr and
exit status 2; publishing queues the notices the running bot then sends (bot/delivery.py).
"""
from __future__ import annotations

import sys
from argparse import Namespace
from dataclasses import replace


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=["add", "list", "publish", "withdraw", "status"])
    parser.add_argument("number", nargs="?", type=int, help="the event's number (publish, withdraw, status)")
    parser.add_argument("--topic", help="the content entry id it belongs to, e.g. jobs_job_fairs")
    parser.add_argument("--title-zh")
    parser.add_argument("--title-en", default="")
    parser.add_argument("--start", help='"YYYY-MM-DD HH:MM", Shanghai time')
    parser.add_argument("--end", default=None, help='"YYYY-MM-DD HH:MM", Shanghai time')
    parser.add_argument("--place", default="")
    parser.add_argument("--details", default="")
    parser.add_argument("--how", default="", help="how to take part")
    parser.add_argument("--publish", action="store_true", help="with add: publish at once")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


async def run(url: str, args: Namespace) -> int:
    # Imported here, not above: `python -m bot`'s parser imports this module for add_arguments,
    # and `ask` must not pay for SQLAlchemy.
    from bot.startup import build_core
    from db import events
    from db.clock import SHANGHAI
    from db.events import EventError
    from db.models import Event
    from db.store import Store
    from handlers import events as shown_events

    services = build_core()
    now = services.clock()
    if args.action == "add":
        missing = [name for name in ("topic", "title_zh", "start", "place") if not getattr(args, name)]
        if missing:
            return _fail(f"events add needs {', '.join('--' + m.replace('_', '-') for m in missing)}")
        try:
            start = events.parse_local(args.start, "--start")
            end = events.parse_local(args.end, "--end") if args.end else None
            events.check(args.topic, services.content.entries, start, end, now)
        except EventError as error:
            return _fail(str(error))
    elif args.action != "list" and args.number is None:
        return _fail(f"events {args.action} needs the event's number")
    store = await Store.open(url)
    services = replace(services, store=store)
    try:
        async with store.transaction() as session:
            if args.action == "add":
                event = events.add(session, "cli", topic=args.topic, title_zh=args.title_zh, title_en=args.title_en,
                                   start=start, end=end, place=args.place, details=args.details, how=args.how)
                await session.flush()
                print(f"event {event.id} added (draft): {event.title_zh}")
                if not args.publish:
                    return 0
            elif args.action == "list":
                for event in await events.listing(session, limit=200):
                    print(f"{event.id}\t{event.status}\t{event.start.astimezone(SHANGHAI):%Y-%m-%d %H:%M}\t"
                          f"{event.topic}\t{event.title_zh}")
                return 0
            else:
                event = await session.get(Event, args.number)
                if event is None or event.draft_step is not None:
                    return _fail(f"no event {args.number}")
            if args.action == "status":
                print(shown_events.staff_say(services, "progress", "en", number=event.id,
                                             progress=await events.progress(session, event.id)))
                return 0
            if args.action == "withdraw":
                count = await events.withdraw(session, event)
                print(shown_events.staff_say(services, "withdrawn", "en", number=event.id, count=count))
                return 0
            try:
                count, held = await shown_events.publish(session, event, services)
            except EventError as error:
                return _fail(str(error))
            print(shown_events.staff_say(services, "published", "en", number=event.id, count=count,
                                         held=shown_events.held_text(held) if count else ""))
            return 0
    finally:
        await store.close()
