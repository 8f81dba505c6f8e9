"""`python -m bot staff add|passwd|link|set|list|disable`: the accounts of the staff web console."""
from __future__ import annotations

import getpass
import sys

from db import accounts
from db.store import Store


def read_password(from_stdin: bool) -> str:
    """The first line of stdin (for scripts), or typed twice at a prompt (on the terminal)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    try:
        with open("/dev/tty"):  # getpass reads the terminal; without one it would read stdin, echoing
            pass
    except OSError:
        raise accounts.AccountError("no terminal to type the password in: give it on stdin with --password-stdin") from None
    try:
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise accounts.AccountError("the two passwords differ")
    except (EOFError, KeyboardInterrupt):
        raise accounts.AccountError("no password given") from None
    return first


async def run(url: str, action: str, name: str | None, admin: bool, password_stdin: bool, telegram_id: str | None = None,
              team: str | None = None, language: str | None = None) -> int:
    store = await Store.open(url)
    try:
        async with store.transaction() as session:
            if action == "list":
                for account in await accounts.all_accounts(session):
                    flags = [f for f, on in (("admin", account.is_admin), ("disabled", account.disabled)) if on]
                    telegram = f"\ttelegram {account.telegram_user_id}" if account.telegram_user_id else ""
                    team_shown = f"\tteam {account.team}" if account.team else ""
                    print(f"{account.name}\t{','.join(flags) or '-'}\tsince {account.created_at:%Y-%m-%d}{telegram}{team_shown}")
                return 0
            if not name:
                raise accounts.AccountError(f"staff {action} needs a NAME")
            if action == "add":
                await accounts.add(session, name, read_password(password_stdin), admin=admin)
                await session.flush()
                if telegram_id:
                    await accounts.link_telegram(session, name, telegram_id)
                if team is not None or language is not None:
                    await accounts.set_profile(session, name, team, language)
            elif action == "set":
                await accounts.set_profile(session, name, team, language)
            elif action == "link":
                await accounts.link_telegram(session, name, telegram_id or "")
            elif action == "passwd":
                await accounts.set_password(session, name, read_password(password_stdin))
            else:
                await accounts.disable(session, name)
        print(f"{action}: {name}: done")
        return 0
    except accounts.AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
