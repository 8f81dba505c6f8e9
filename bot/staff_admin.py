"""The console's management pages, for administrators only (others get 403 and no link):

- `/staff/accounts`: create an account (a one-time password shown once, or one the admin sets),
  its team (科室) and role, disable / enable, a new password; never the last administrator
  disabled or made staff (db/accounts.py)
- `/staff/committees`: the neighbourhood committees (居委会), their places and phone, as the
  office gives them (db/committees.py; COMMITTEES_FILE is the seed)
- `/staff/canned`: the canned replies, created, edited with a preview, removed (db/canned.py;
  content/templates/canned/ is the seed)

Every change is one transaction with its line in the change log (db/admin_log.py), shown under
each page. A change redirects back to its page (post / redirect / get); a refused one is the page
again with the error in red and the form as typed. A one-time password travels to the page it is
shown on in a cookie of that page alone, read once and deleted (not in the database, not in the
address).
"""
from __future__ import annotations

import json
from urllib.parse import quote, unquote, urlencode

from aiohttp import web

from bot.staff_queue import committees_file
from bot.staff_web import ACCOUNT, FORM, actor_of, language, page, see_other, services_of, set_cookie, signed_in
from db import accounts, admin_log
from db import canned as canned_store
from db import committees as committee_store
from handlers import canned as canned_replies

ONCE_COOKIE = "tq_once"  # the one-time password, on its way to the accounts page
ACCOUNT_ACTIONS = ("profile", "disable", "enable", "password")
DONE = {  # what the page says after a change
    "created": ("账号已创建。", "Account created."), "profile": ("已保存。", "Saved."),
    "disable": ("账号已停用,其登录已结束。", "Account disabled; its sessions ended."),
    "enable": ("账号已启用。", "Account enabled."), "password": ("密码已更改,其登录已结束。", "Password changed; its sessions ended."),
    "saved": ("已保存。", "Saved."), "removed": ("已删除。", "Removed."),
}


def setup(app: web.Application) -> None:
    def admin(handler):
        return signed_in(handler, admin=True)

    app.router.add_get("/staff/accounts", admin(account_page))
    app.router.add_post("/staff/accounts", admin(create_account))
    app.router.add_post("/staff/accounts/{action:profile|disable|enable|password}", admin(change_account))
    app.router.add_get("/staff/committees", admin(committee_page))
    app.router.add_post("/staff/committees", admin(save_committee))
    app.router.add_post("/staff/committees/remove", admin(remove_committee))
    app.router.add_get("/staff/canned", admin(canned_page))
    app.router.add_post("/staff/canned", admin(save_canned))
    app.router.add_post("/staff/canned/remove", admin(remove_canned))


def _form(request: web.Request) -> dict[str, str]:
    return {k: str(v)[:4000] for k, v in request[FORM].items() if isinstance(v, str) and k != "csrf"}


def _done(request: web.Request) -> str:
    found = DONE.get(str(request.query.get("done", "")))
    return "" if found is None else found[0] if language(request) == "zh" else found[1]


def _redirect(path: str, **values: str) -> web.Response:
    raise web.HTTPSeeOther(path + (f"?{urlencode(values)}" if values else ""))


async def _changes(request: web.Request, kind: str) -> list:
    async with services_of(request).store.transaction() as session:
        return await admin_log.recent(session, kind)


# -- accounts ------------------------------------------------------------------------------------


async def account_page(request: web.Request, problem: str = "", status: int = 200, form: dict | None = None) -> web.Response:
    async with services_of(request).store.transaction() as session:
        rows = await accounts.all_accounts(session)
    once = request.cookies.get(ONCE_COOKIE, "")
    name, _, password = once.rpartition(":")  # the password has no ":"; the name is quoted
    response = page(request, "accounts", status, accounts=rows, problem=problem, form=form or {}, done=_done(request),
                    once=(unquote(name), password) if password else None, changes=await _changes(request, "account"),
                    min_password=accounts.MIN_PASSWORD)
    if once:
        response.del_cookie(ONCE_COOKIE, path="/staff/accounts")
    return response


def _with_password(request: web.Request, response: web.Response, name: str, password: str) -> web.Response:
    """The redirect to the accounts page, carrying the one-time password for its single showing."""
    set_cookie(request, response, ONCE_COOKIE, f"{quote(name)}:{password}", path="/staff/accounts", max_age=300)
    return response


def _problem(error: Exception) -> str:
    """An AccountError's message for staff: Chinese first (db/accounts.py says them in English)."""
    text = str(error)
    known = {"the name must be": "名字须为 1 至 64 个字符,不含空格。", "exists already": "已有同名账号。",
             f"at least {accounts.MIN_PASSWORD}": f"密码至少 {accounts.MIN_PASSWORD} 个字符。",
             "no account named": "没有这个账号。", "last administrator": "这是最后一个管理员账号,不能停用或改为普通账号。"}
    return next((zh for part, zh in known.items() if part in text), text)


async def create_account(request: web.Request) -> web.Response:
    form = _form(request)
    name, team, chosen = form.get("name", "").strip(), form.get("team", ""), form.get("password", "")
    password = chosen or accounts.one_time_password()
    admin = form.get("role") == "admin"
    try:
        async with services_of(request).store.transaction() as session:
            account = await accounts.add(session, name, password, admin=admin)
            await session.flush()
            await accounts.set_profile(session, account.name, team=team)
            admin_log.record(session, actor_of(request[ACCOUNT]), "account", account.name,
                             "created" + (" as administrator" if admin else "")
                             + (f", team {team.strip()}" if team.strip() else "") + ("" if chosen else ", one-time password"))
    except accounts.AccountError as error:
        return await account_page(request, _problem(error), 400, form)
    response = see_other("/staff/accounts?done=created")
    return response if chosen else _with_password(request, response, account.name, password)


async def change_account(request: web.Request) -> web.Response:
    form, action = _form(request), request.match_info["action"]
    name, actor = form.get("name", ""), actor_of(request[ACCOUNT])
    password = form.get("password", "") or accounts.one_time_password()
    try:
        async with services_of(request).store.transaction() as session:
            what = await _change(session, action, name, form, password)
            admin_log.record(session, actor, "account", name, what)
    except accounts.AccountError as error:
        return await account_page(request, _problem(error), 409 if "last" in str(error) else 400)
    response = see_other(f"/staff/accounts?done={action}")
    if action == "password" and not form.get("password"):
        return _with_password(request, response, name, password)
    return response


async def _change(session, action: str, name: str, form: dict, password: str) -> str:
    """One account's change; returns its line for the log."""
    account = await accounts.by_name(session, name)
    if account is None:
        raise accounts.AccountError("no account named")
    if action == "disable":
        await accounts.disable(session, name)
        return "disabled"
    if action == "enable":
        await accounts.enable(session, name)
        return "enabled"
    if action == "password":
        await accounts.set_password(session, name, password)
        return "new password" + ("" if form.get("password") else " (one-time)")
    before = (account.team or "", account.is_admin)
    await accounts.set_admin(session, name, form.get("role") == "admin")
    await accounts.set_profile(session, name, team=form.get("team", ""))
    after = (account.team or "", account.is_admin)
    role = {True: "administrator", False: "staff"}
    return "; ".join(([f"team {before[0] or '-'} -> {after[0] or '-'}"] if before[0] != after[0] else [])
                     + ([f"{role[before[1]]} -> {role[after[1]]}"] if before[1] != after[1] else [])) or "saved unchanged"


# -- committees ----------------------------------------------------------------------------------


async def committee_page(request: web.Request, problem: str = "", status: int = 200, form: dict | None = None) -> web.Response:
    async with services_of(request).store.transaction() as session:
        rows = await committee_store.listing(session, committees_file(request))
    shown = [(c, json.loads(c.places)) for c in rows]
    return page(request, "committees", status, committees=shown, problem=problem, form=form or {},
                done=_done(request), changes=await _changes(request, "committee"))


async def save_committee(request: web.Request) -> web.Response:
    form = _form(request)
    try:
        async with services_of(request).store.transaction() as session:
            await committee_store.save(session, actor_of(request[ACCOUNT]), committees_file(request), form.get("name", ""),
                                       form.get("places", ""), form.get("phone", ""), form.get("old_name", "").strip(),
                                       now=services_of(request).clock())
    except committee_store.CommitteeError as error:
        return await committee_page(request, str(error), 400, form)
    _redirect("/staff/committees", done="saved")


async def remove_committee(request: web.Request) -> web.Response:
    form = _form(request)
    try:
        async with services_of(request).store.transaction() as session:
            await committee_store.remove(session, actor_of(request[ACCOUNT]), committees_file(request), form.get("name", ""))
    except committee_store.CommitteeError as error:
        return await committee_page(request, str(error), 400)
    _redirect("/staff/committees", done="removed")


# -- canned replies ------------------------------------------------------------------------------


async def canned_page(request: web.Request, problem: str = "", status: int = 200, form: dict | None = None,
                      preview: bool = False) -> web.Response:
    services = services_of(request)
    found = await canned_replies.replies(services)
    editing = found.get(str(request.query.get("edit", "")))
    if form is None and editing is not None:
        form = dict(name=editing.name, title_zh=editing.title_zh, title_en=editing.title_en, text=editing.text, new="")
    return page(request, "canned", status, replies=list(found.values()), problem=problem, form=form or {"new": "1"},
                done=_done(request), preview=preview, changes=await _changes(request, "canned"),
                limit=canned_store.TEXT_LIMIT)


async def save_canned(request: web.Request) -> web.Response:
    """Save, or only show how it reads (`preview`: nothing is written, so it needs no redirect)."""
    form, services = _form(request), services_of(request)
    if form.get("preview"):
        return await canned_page(request, form=form, preview=True)
    try:
        async with services.store.transaction() as session:
            await canned_store.save(session, actor_of(request[ACCOUNT]), canned_replies.seed(services), form.get("name", ""),
                                    form.get("title_zh", ""), form.get("title_en", ""), form.get("text", ""),
                                    new=bool(form.get("new")), now=services.clock())
    except canned_store.CannedError as error:
        return await canned_page(request, str(error), 400, form)
    _redirect("/staff/canned", done="saved")


async def remove_canned(request: web.Request) -> web.Response:
    form, services = _form(request), services_of(request)
    try:
        async with services.store.transaction() as session:
            await canned_store.remove(session, actor_of(request[ACCOUNT]), canned_replies.seed(services), form.get("name", ""),
                                      services.clock())
    except canned_store.CannedError as error:
        return await canned_page(request, str(error), 400)
    _redirect("/staff/canned", done="removed")
