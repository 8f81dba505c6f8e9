"""`python -m bot`: run the bot, chat offline, ask from the shell, check content, export.
(The benchmarks are `python -m bench`, outside the installed package.)

    python -m bot                  Telegram when TELEGRAM_BOT_TOKEN is set, else the console chat
    python -m bot run              the same
    python -m bot chat             the offline console chat
    python -m bot serve [--host H] [--port P]   the web server: Telegram webhook, WeChat callback, /healthz
    python -m bot ask [--json] [QUESTION ...]   answer questions (or one per line on stdin)
    python -m bot converse         conversations: JSON lines in, JSON lines out (../shared/eval/DIALOGS.md)
    python -m bot content check    validate the content base and examples; exit 1 on any problem
    python -m bot content eval     the model's cross-validated figures per label, style and entry, and its confusions;
                                   emergency recall per kind and false alarms per label (signs + model)
    python -m bot content gaps [--questions FILE]   the report's passages no entry quotes, by section, with key terms
    python -m bot content examples export   append staff's approved examples to content/examples/reviewed.jsonl
    python -m bot content rollback the model before the last approval of staff's examples, in every bot process
    python -m bot content train    train the model of the content now and cache it (once at install; the bot trains only if it must)
    python -m bot export [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--out DIR] [--format xlsx,csv,html]
                                   the weekly export (default: last week, Monday to Sunday)
    python -m bot db upgrade       bring DATABASE_URL's schema to the newest migration (start-up does it too)
    python -m bot staff add NAME [--admin] [--password-stdin] [--telegram-id ID] [--team T] [--language zh|en]
        | passwd NAME | link NAME --telegram-id ID | set NAME [--team T] [--language zh|en]
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
import os
import sys
from pathlib import Path

from bot.settings import SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Settings: environment variables or ./.env (README.md, Settings). "
                                            "`python -m bot COMMAND --help` for a command's options.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="Telegram when TELEGRAM_BOT_TOKEN is set, else the console chat")
    sub.add_parser("chat", help="offline console chat")
    serve = sub.add_parser("serve", help="the web server: Telegram webhook, WeChat callback, /healthz")
    serve.add_argument("--host", default=None, help="address to listen on (default: HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default: PORT, else 8080)")
    ask = sub.add_parser("ask", help="answer questions given as arguments or one per line on stdin",
                         description="Answer questions as the bot would, without storing anything (the evaluation's "
                                     "contract). Upcoming events are read from DATABASE_URL's database when it exists.")
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    ask.add_argument("--lang", choices=["zh", "en"], default=None, help="answer language (default: the question's)")
    ask.add_argument("questions", nargs="*")
    sub.add_parser("converse", help="conversations as JSON lines in and out (the dialogs' evaluation contract)")
    content = sub.add_parser("content", help="content base tools: check, eval, train, gaps, examples export, rollback",
                             description="check: validate the content base, the examples and the templates (one line "
                                         "per problem, exit 1 on any); eval: the model's cross-validated figures; "
                                         "train: train the model now and cache it in TANGQIAO_CACHE_DIR.")
    content.add_argument("action", choices=["check", "eval", "train", "gaps", "examples", "rollback"],
                         help="check: validate the content base; eval: the model's cross-validated figures; "
                              "train: train the model now and cache it (at install, and after a change of the content); "
                              "gaps: the report's passages no entry quotes; "
                              "examples export: staff's approved examples into content/examples; "
                              "rollback: the model before the last approval")
    content.add_argument("what", nargs="?", choices=["export"], help="with examples: export")
    content.add_argument("--questions", default=None, help="with gaps: residents' unanswered questions, one a line")
    content.add_argument("--areas", default=None, help="folder of area YAML files (default: content/areas)")
    export = sub.add_parser("export", help="the weekly export of opinions and tickets (xlsx, csv, html)",
                            description="The export of a range of days (Shanghai time): the workbook, one CSV file per "
                                        "sheet and an HTML summary, personal data masked; prints the files and the summary.")
    export.add_argument("--from", dest="start", metavar="YYYY-MM-DD", default=None, help="first day (default: last Monday)")
    export.add_argument("--to", dest="end", metavar="YYYY-MM-DD", default=None, help="last day, inclusive (default: last Sunday)")
    export.add_argument("--out", default=None, help="folder of the files (default: EXPORT_DIR, else ./var/exports)")
    export.add_argument("--format", dest="formats", default="xlsx,csv,html", help="any of xlsx,csv,html (default: all)")
    database = sub.add_parser("db", help="database tools")
    database.add_argument("action", choices=["upgrade"], help="apply the migrations (db/migrations) to DATABASE_URL")
    sub.add_parser("demo", help="fill a database of its own with four weeks of made-up tickets; print a demo login")
    staff = sub.add_parser("staff", help="accounts of the staff web console",
                           description="Accounts of the staff web console (/staff/): add NAME, passwd NAME (a new "
                                       "password; re-enables a disabled account), link NAME --telegram-id ID, "
                                       "set NAME --team T --language zh|en, list, "
                                       "disable NAME (its sessions end at once). Passwords: at least 10 characters, "
                                       "typed twice on the terminal, or the first line of stdin with --password-stdin.")
    staff.add_argument("action", choices=["add", "passwd", "link", "set", "list", "disable"])
    staff.add_argument("name", nargs="?", help="the account's name (not for list)")
    staff.add_argument("--admin", action="store_true", help="with add: an administrator")
    staff.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    staff.add_argument("--telegram-id", default=None, help="with add or link: the member's Telegram user id")
    staff.add_argument("--team", default=None, help="with add or set: the member's team (科室), shown with their name")
    staff.add_argument("--language", default=None, choices=["zh", "en"], help="with add or set: the console's language for them")
    from bot.events_cli import add_arguments

    add_arguments(sub.add_parser("events", help="the office's events: add, list, publish, withdraw, status"))
    wechat = sub.add_parser("wechat", help="the WeChat Official Account: publish its menu")
    wechat.add_argument("action", choices=["menu"])
    wechat.add_argument("--file", default=None, help="the menu file (default content/wechat_menu.yaml)")
    wechat.add_argument("--check", action="store_true", help="check the file only; publish nothing")
    return parser


CONNECT_TIMEOUT = 15  # seconds for the database to answer at start-up


def _train(areas: str | None) -> int:
    """`content train`: the model of this content in the cache (TANGQIAO_CACHE_DIR), trained now if
    it is not there, so the bot never trains while it serves."""
    from content.loader import AREAS_DIR, load_content
    from content.model_cache import content_hash, load_model, model_path

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    areas_dir = Path(areas) if areas else AREAS_DIR
    if settings.cache_dir:
        os.environ["TANGQIAO_CACHE_DIR"] = settings.cache_dir
    path = model_path(content_hash(areas_dir))
    if path.is_file():
        print(f"the model of this content is trained already: {path}")
        return 0
    load_model(load_content(areas_dir), areas_dir)
    if not path.is_file():
        print(f"error: the model was trained but could not be written to {path.parent}", file=sys.stderr)
        return 1
    print(f"trained and cached: {path}")
    return 0


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


def _approved_examples() -> list[tuple[str, str]]:
    """Staff's approved examples in DATABASE_URL's database; none when it is not set up."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    try:
        settings = load_settings()
    except SettingsError:
        return []
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return []
    if asyncio.run(_database_problem(settings.database_url)):
        return []
    from bot.learning_cli import approved

    return asyncio.run(approved(settings.database_url))


def _learning(action: str) -> int:
    """`content examples export` and `content rollback`: with DATABASE_URL's database."""
    from bot.learning_cli import approved, export_examples, rollback
    from content.loader import load_content
    from content.model import EXAMPLES_DIR

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if problem := asyncio.run(_database_problem(settings.database_url)):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if action == "rollback":
        print(asyncio.run(rollback(settings.database_url)))
        return 0
    written = export_examples(load_content(), asyncio.run(approved(settings.database_url)))
    print(f"{written} approved examples written to {EXAMPLES_DIR / 'reviewed.jsonl'} (those already there left out)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.command == "content" and args.areas and not any(Path(args.areas).glob("*.yaml")):
        print(f"error: --areas {args.areas}: not a folder of area files (*.yaml)", file=sys.stderr)
        return 2
    if args.command == "content" and args.action == "eval":
        from content.loader import load_content
        from content.training import evaluate

        content = load_content(args.areas) if args.areas else load_content()
        print(evaluate(content))
        if pairs := _approved_examples():
            from bot.learning_cli import approved_changes

            print(f"\nstaff's approved examples ({len(pairs)}, the console's review page):")
            print(approved_changes(content, pairs))
        return 0
    if args.command == "content" and args.action == "train":
        return _train(args.areas)
    if args.command == "content" and args.action == "gaps":
        from content.gaps import render
        from content.loader import load_content

        questions = Path(args.questions).read_text(encoding="utf-8").splitlines() if args.questions else None
        print(render(load_content(args.areas) if args.areas else load_content(), questions=questions))
        return 0
    if args.command == "content" and args.action == "examples" and args.what != "export":
        print("error: python -m bot content examples export", file=sys.stderr)
        return 2
    if args.command == "content" and args.action in ("examples", "rollback"):
        return _learning(args.action)
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
    if args.command == "wechat":  # no database needed
        from bot.channels.wechat_menu import main as wechat_menu

        return wechat_menu(settings, args)
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
                                 args.telegram_id, team=args.team, language=args.language))
    if args.command == "events":
        from bot.events_cli import run as events

        return asyncio.run(events(settings.database_url, args))
    if args.command == "serve":
        import errno
        from dataclasses import replace

        from bot.lifecycle import serve

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

        return export(settings.database_url, lambda: working_calendar(settings), args.start, args.end,
                      args.out or settings.export_dir, args.formats)
    if args.command == "chat" or (args.command in (None, "run") and not settings.telegram_bot_token):
        from bot.channels.console import run_console

        asyncio.run(run_console(settings))
        return 0
    from bot.channels.telegram import run_polling

    run_polling(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
