"""`python -m bot`: run the bot, chat offline, ask from the shell, check content, export.
(The benchmarks are `python -m bench`, outside the installed package.)

    python -m bot                  Telegram when TELEGRAM_BOT_TOKEN is set, else the console chat
    python -m bot run              the same
    python -m bot chat             the offline console chat
    python -m bot serve [--host H] [--port P]   the web server: Telegram webhook, WeChat callback, /healthz
    python -m bot ask [--json] [QUESTION ...]   answer questions (or one per line on stdin)
    python -m bot converse         conversations: JSON lines in, JSON lines out (../shared/eval/DIALOGS.md)
    python -m bot content check    validate the content base and examples; exit 1 on any problem
    python -m bot content eval     the model's cross-validated figures per label, style and entry, and its confusions
    python -m bot export [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--out DIR] [--format xlsx,csv,html]
                                   the weekly export (default: last week, Monday to Sunday)
    python -m bot db upgrade       bring DATABASE_URL's schema to the newest migration (start-up does it too)
    python -m bot staff add NAME [--admin] [--password-stdin] [--telegram-id ID] | passwd NAME | link NAME --telegram-id ID
                                   | list | disable NAME
                                   the accounts of the staff web console (/staff/)
    python -m bot events add --topic ID --title-zh T [--title-en T] --start "YYYY-MM-DD HH:MM" [--end ...]
                         --place P [--details D] [--how H] [--publish] | list | publish N | withdraw N | status N
                                   the office's events (Shanghai time); publishing notifies the subscribers
    python -m bot demo               a local database with four weeks of made-up tickets and opinions,
                                   and a demo login for the staff console
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.settings import SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Tangqiao resident-services bot")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="Telegram when TELEGRAM_BOT_TOKEN is set, else the console chat")
    sub.add_parser("chat", help="offline console chat")
    serve = sub.add_parser("serve", help="the web server: Telegram webhook, WeChat callback, /healthz")
    serve.add_argument("--host", default=None, help="address to listen on (default: HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default: PORT, else 8080)")
    ask = sub.add_parser("ask", help="answer questions given as arguments or one per line on stdin")
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    ask.add_argument("--lang", choices=["zh", "en"], default=None, help="answer language (default: the question's)")
    ask.add_argument("questions", nargs="*")
    sub.add_parser("converse", help="conversations as JSON lines in and out (the dialogs' evaluation contract)")
    content = sub.add_parser("content", help="content base tools")
    content.add_argument("action", choices=["check", "eval"])
    content.add_argument("--areas", default=None, help="folder of area YAML files (default: content/areas)")
    export = sub.add_parser("export", help="the weekly export of opinions and tickets (xlsx, csv, html)")
    export.add_argument("--from", dest="start", metavar="YYYY-MM-DD", default=None, help="first day (default: last Monday)")
    export.add_argument("--to", dest="end", metavar="YYYY-MM-DD", default=None, help="last day, inclusive (default: last Sunday)")
    export.add_argument("--out", default="./var/exports", help="folder of the files (default: ./var/exports)")
    export.add_argument("--format", dest="formats", default="xlsx,csv,html", help="any of xlsx,csv,html (default: all)")
    database = sub.add_parser("db", help="database tools")
    database.add_argument("action", choices=["upgrade"], help="apply the migrations (db/migrations) to DATABASE_URL")
    sub.add_parser("demo", help="fill a database of its own with four weeks of made-up tickets; print a demo login")
    staff = sub.add_parser("staff", help="accounts of the staff web console")
    staff.add_argument("action", choices=["add", "passwd", "link", "list", "disable"])
    staff.add_argument("name", nargs="?", help="the account's name (not for list)")
    staff.add_argument("--admin", action="store_true", help="with add: an administrator")
    staff.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    staff.add_argument("--telegram-id", default=None, help="with add or link: the member's Telegram user id")
    from bot.events_cli import add_arguments

    add_arguments(sub.add_parser("events", help="the office's events: add, list, publish, withdraw, status"))
    return parser


CONNECT_TIMEOUT = 15  # seconds for the database to answer at start-up


async def _database_problem(url: str) -> str | None:
    """Why the database of DATABASE_URL cannot be opened (one line naming the setting), or None."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from db.engine import make_engine

    engine = make_engine(url)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT), engine.connect():
            return None
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        shown = make_url(url).render_as_string(hide_password=True)
        return f"DATABASE_URL: cannot open {shown}: {reason[0] if reason else type(exc).__name__}"
    finally:
        await engine.dispose()


async def _db_upgrade(url: str) -> int:
    """Apply the migrations; one line says what was done, or why it could not be."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from db import migrations
    from db.engine import make_engine

    shown = make_url(url).render_as_string(hide_password=True)
    engine = make_engine(url)
    try:
        before = await migrations.upgrade(engine)
    except (OSError, SQLAlchemyError, RuntimeError) as exc:
        print(f"error: cannot upgrade {shown}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    if before == migrations.HEAD:
        print(f"{shown}: up to date (revision {migrations.HEAD})")
    else:
        print(f"{shown}: upgraded from {before or 'an empty database'} to revision {migrations.HEAD}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.command == "content" and args.action == "eval":
        from content.loader import load_content
        from content.training import evaluate

        print(evaluate(load_content(args.areas) if args.areas else load_content()))
        return 0
    if args.command == "content":
        from content.check import main as check
        from handlers.texts_check import check_templates

        return check(args.areas, checks=(check_templates,))
    if args.command == "ask":
        from bot.ask import main as ask

        return ask(args.questions, as_json=args.json, lang=args.lang)
    if args.command == "converse":
        from bot.converse import main as converse

        return converse()
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if problem := asyncio.run(_database_problem(settings.database_url)):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.command == "db":
        return asyncio.run(_db_upgrade(settings.database_url))
    if args.command == "demo":
        from bot.demo import main as demo

        return asyncio.run(demo(settings))
    if args.command == "staff":
        from bot.staff_cli import run as staff

        return asyncio.run(staff(settings.database_url, args.action, args.name, args.admin, args.password_stdin,
                                 args.telegram_id))
    if args.command == "events":
        from bot.events_cli import run as events

        return asyncio.run(events(settings.database_url, args))
    if args.command == "serve":
        import errno
        from dataclasses import replace

        from bot.web import serve

        port = settings.port if args.port is None else args.port
        try:
            asyncio.run(serve(replace(settings, host=args.host or settings.host, port=port)))
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
                raise
            print(f"error: cannot listen on {args.host or settings.host}:{port}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "export":
        from bot.export.run import main as export
        from bot.startup import working_calendar

        return export(settings.database_url, lambda: working_calendar(settings), args.start, args.end, args.out, args.formats)
    if args.command == "chat" or (args.command in (None, "run") and not settings.telegram_bot_token):
        from bot.channels.console import run_console

        asyncio.run(run_console(settings))
        return 0
    from bot.channels.telegram import run_polling

    run_polling(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
