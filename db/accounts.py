"""Staff accounts of the web console: passwords (argon2id), server-side sessions and the
record of failed logins. Each function takes the session of the caller's transaction."""
from __future__ import annotations

import asyncio
import hashlib
import secrets
import weakref
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import LoginThrottle, StaffAccount, StaffSession

HASHER = PasswordHasher()  # argon2id with the library's recommended parameters (64 MiB each)
HASHES_AT_ONCE = 2  # memory stays at 2 x 64 MiB however many logins arrive at once
_HASHING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> its semaphore
MIN_PASSWORD = 10
SESSION_LIFETIME = timedelta(hours=8)  # one working day; then sign in again
# a hash to verify against when the name is unknown, so an unknown name takes as long as a wrong password
_NO_ACCOUNT = HASHER.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A name taken or unknown, a password too short: the message says which."""


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


async def by_name(session: AsyncSession, name: str) -> StaffAccount | None:
    return (await session.exec(select(StaffAccount).where(StaffAccount.name == name))).first()


async def add(session: AsyncSession, name: str, password: str, admin: bool = False) -> StaffAccount:
    name = name.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise AccountError("the name must be 1-64 characters without spaces")
    if await by_name(session, name) is not None:
        raise AccountError(f"an account named {name} exists already")
    account = StaffAccount(name=name, password_hash=HASHER.hash(check_password(password)), is_admin=admin)
    session.add(account)
    return account


async def _existing(session: AsyncSession, name: str) -> StaffAccount:
    account = await by_name(session, name)
    if account is None:
        raise AccountError(f"no account named {name}")
    return account


async def set_password(session: AsyncSession, name: str, password: str) -> StaffAccount:
    """A new password (also enables a disabled account); its open sessions end."""
    account = await _existing(session, name)
    account.password_hash, account.disabled = HASHER.hash(check_password(password)), False
    session.add(account)
    await end_sessions(session, account.id)
    return account


async def _not_the_last_admin(session: AsyncSession, account: StaffAccount) -> None:
    """Refuse to leave no enabled administrator: nobody could manage the accounts any more."""
    if account.is_admin and not account.disabled:
        others = (await session.exec(select(func.count()).select_from(StaffAccount).where(
            StaffAccount.is_admin == True, StaffAccount.disabled == False, StaffAccount.id != account.id))).one()  # noqa: E712
        if not others:
            raise AccountError("this is the last administrator 这是最后一个管理员账号")


async def disable(session: AsyncSession, name: str) -> StaffAccount:
    """The account can no longer sign in, and its open sessions end now (never the last administrator)."""
    account = await _existing(session, name)
    await _not_the_last_admin(session, account)
    account.disabled = True
    session.add(account)
    await end_sessions(session, account.id)
    return account


async def enable(session: AsyncSession, name: str) -> StaffAccount:
    """A disabled account may sign in again with its password."""
    account = await _existing(session, name)
    account.disabled = False
    session.add(account)
    return account


async def link_telegram(session: AsyncSession, name: str, user_id: str) -> StaffAccount:
    """The account's Telegram user id: the console names its actions in the moderation chat by the account."""
    if not user_id.isdigit():
        raise AccountError("a Telegram user id is a number")
    account = await _existing(session, name)
    account.telegram_user_id = user_id
    session.add(account)
    return account


async def set_profile(session: AsyncSession, name: str, team: str | None = None, language: str | None = None) -> StaffAccount:
    """The account's team (科室: "" for none) and console language (zh or en); None leaves one as it is."""
    account = await _existing(session, name)
    if team is not None:
        account.team = team.strip()[:64] or None
    if language is not None:
        if language not in ("zh", "en"):
            raise AccountError("the language is zh or en")
        account.language = language
    session.add(account)
    return account


async def set_admin(session: AsyncSession, name: str, admin: bool) -> StaffAccount:
    """An administrator or a member of staff (never the last administrator made staff)."""
    account = await _existing(session, name)
    if not admin:
        await _not_the_last_admin(session, account)
    account.is_admin = admin
    session.add(account)
    return account


def one_time_password() -> str:
    """A password to tell its owner once (14 characters, no look-alike letters)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(14))


async def all_accounts(session: AsyncSession) -> list[StaffAccount]:
    return list((await session.exec(select(StaffAccount).order_by(StaffAccount.name))).all())


async def password_matches(account: StaffAccount | None, password: str) -> bool:
    """Whether `account` is enabled and this is its password. Out of any transaction (SQLite
    has one connection) and in a thread: argon2 takes tens of milliseconds of CPU, and residents'
    replies must not wait for it. No account takes as long as a wrong password."""
    try:
        hashing = _HASHING.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(HASHES_AT_ONCE))
        async with hashing:
            await asyncio.to_thread(HASHER.verify, account.password_hash if account else _NO_ACCOUNT, password)
    except (VerificationError, InvalidHashError):
        return False
    return account is not None and not account.disabled


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(session: AsyncSession, account: StaffAccount, now: datetime) -> str:
    """A new signed-in session; returns the token for the cookie (only its digest is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(StaffSession(token_hash=_digest(token), account_id=account.id, csrf=secrets.token_urlsafe(32),
                             created_at=now, expires_at=now + SESSION_LIFETIME))
    await session.exec(delete(StaffSession).where(StaffSession.expires_at < now))  # the expired ones of anybody
    return token


async def signed_in(session: AsyncSession, token: str, now: datetime) -> tuple[StaffSession, StaffAccount] | None:
    """The live session of this cookie token and its enabled account, or None."""
    if not token:
        return None
    row = (await session.exec(select(StaffSession, StaffAccount).join(StaffAccount).where(
        StaffSession.token_hash == _digest(token), StaffSession.expires_at > now,
        StaffAccount.disabled == False))).first()  # noqa: E712
    return (row[0], row[1]) if row else None


async def close_session(session: AsyncSession, token: str) -> None:
    await session.exec(delete(StaffSession).where(StaffSession.token_hash == _digest(token)))


async def end_sessions(session: AsyncSession, account_id: int) -> None:
    await session.exec(delete(StaffSession).where(StaffSession.account_id == account_id))


async def take_attempt(session: AsyncSession, key: str, limit: int, window: timedelta, now: datetime) -> bool:
    """Count one login attempt of `key` before its password is checked; False when `limit`
    attempts of the window are counted already (this one is then not counted). One UPDATE with
    RETURNING: concurrent attempts each see their own count, so a burst gets at most `limit`
    password checks. The window starts at the first attempt after the last one ended."""
    key = key[:192]
    if await session.get(LoginThrottle, key) is None:
        try:
            async with session.begin_nested():
                session.add(LoginThrottle(key=key, since=now, count=0))
        except IntegrityError:
            pass  # another attempt made it first
    ended = LoginThrottle.since <= now - window
    count = (await session.exec(update(LoginThrottle).where(LoginThrottle.key == key).values(
        count=case((ended, 1), else_=LoginThrottle.count + 1), since=case((ended, now), else_=LoginThrottle.since))
        .returning(LoginThrottle.count))).scalar_one()
    if count > limit:
        await give_back(session, key, now)
        return False
    return True


async def give_back(session: AsyncSession, key: str, now: datetime) -> None:
    """An attempt that turned out not to be a failure (the right password, or refused unchecked)."""
    await session.exec(update(LoginThrottle).where(LoginThrottle.key == key[:192], LoginThrottle.count > 0)
                       .values(count=LoginThrottle.count - 1))
    await session.exec(delete(LoginThrottle).where(LoginThrottle.since < now - timedelta(days=1)))
