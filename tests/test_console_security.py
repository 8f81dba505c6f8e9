"""The staff console's locks (issue 23): login limits that a burst cannot beat and that nobody can
use to lock a colleague out, the proxy headers believed only from TRUSTED_PROXIES, the security
headers, nothing personal cached, only the bot's export files served, and no 500 for any input:
real HTTP on loopback against the application `python -m bot serve` runs."""
from __future__ import annotations

import asyncio
import re
import zlib

import pytest

from db import accounts
from tests.test_staff_console import console as console  # noqa: F401 (the fixtures, by their names)
from tests.test_staff_console import console_env as console_env  # noqa: F401
from tests.test_staff_console import csrf_of, new_ticket

pytestmark = pytest.mark.both_databases


async def _login_form(console) -> str:
    return csrf_of((await console.get("/staff/login"))[1])


async def test_a_burst_of_wrong_logins_gets_at_most_the_limit_of_password_checks(console):
    token = await _login_form(console)
    form = {"username": "wang", "password": "guess guess guess", "csrf": token}
    statuses = await asyncio.gather(*(console.post("/staff/login", form) for _ in range(50)))
    counted = sorted(status for status, _, _ in statuses)
    assert counted.count(401) <= 5 and set(counted) <= {401, 429}, counted
    status, html, _ = await console.login()
    assert status == 429 and "尝试次数过多" in html  # the right password after the burst: refused


class TestBehindATrustedProxy:
    @pytest.fixture
    def console_env(self):
        return {"TRUSTED_PROXIES": "127.0.0.1, ::1"}

    async def test_five_wrong_passwords_from_elsewhere_do_not_lock_the_account_out(self, console):
        attacker = {"X-Real-IP": "203.0.113.9"}
        for _ in range(5):
            assert (await console.login(password="guess guess guess", headers=attacker))[0] == 401
        assert (await console.login(headers=attacker))[0] == 429
        assert (await console.login(headers={"X-Real-IP": "198.51.100.7"}))[0] == 303  # wang at their own desk

    async def test_the_address_is_the_last_one_the_proxies_did_not_add(self, console):
        for n in range(5):  # the client's own X-Forwarded-For entry is not believed, nginx's appended one is
            headers = {"X-Forwarded-For": f"10.9.9.{n}, 203.0.113.9, 127.0.0.1"}
            assert (await console.login(password="guess guess guess", headers=headers))[0] == 401
        assert (await console.login(headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.9"}))[0] == 429


async def test_a_spoofed_address_from_an_untrusted_peer_is_ignored(console):
    for n in range(5):  # each claims another address; the peer (loopback, not a trusted proxy) is what counts
        headers = {"X-Real-IP": f"198.51.100.{n}", "X-Forwarded-For": f"198.51.100.{n}"}
        assert (await console.login(password="guess guess guess", headers=headers))[0] == 401
    assert (await console.login(headers={"X-Real-IP": "198.51.100.99"}))[0] == 429


async def test_password_hashes_run_a_few_at_a_time(monkeypatch):
    """The semaphore bounds argon2's memory (64 MiB a hash): never more than HASHES_AT_ONCE at once."""
    running, most = 0, 0
    original = accounts.HASHER

    class Counting:
        def verify(self, *args):
            nonlocal running, most
            running += 1  # in threads; the GIL makes += on a local cell safe enough to see the overlap
            most = max(most, running)
            try:
                return original.verify(*args)
            finally:
                running -= 1

    monkeypatch.setattr(accounts, "HASHER", Counting())
    await asyncio.gather(*(accounts.password_matches(None, "x") for _ in range(12)))
    assert 1 <= most <= accounts.HASHES_AT_ONCE == 2


async def test_security_headers_and_nothing_personal_cached(console, services):
    ticket = await new_ticket(services)
    await console.login()
    for path in ("/staff/", f"/staff/tickets/{ticket.number}", "/staff/login"):
        async with console.http.get(console.url(path)) as response:
            headers = response.headers
            assert headers["Cache-Control"] == "no-store" and headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
            assert headers["Strict-Transport-Security"].startswith("max-age=")


async def test_a_broken_body_encoding_is_a_400_not_a_500(console):
    token = await _login_form(console)
    body = f"username=wang&password=x&csrf={token}".encode()
    for encoding, data in (("gzip", b"not gzip at all"), ("deflate", b"\x00\x01broken"), ("br", b"xx"),
                           ("gzip", zlib.compress(body)[:5])):
        status, text, _ = await console.post("/staff/login", data, headers={
            "Content-Encoding": encoding, "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 400 and "\n" not in text.strip(), (encoding, status, text)


async def test_only_the_bots_export_files_can_be_downloaded(console, services, tmp_path):
    from datetime import date

    from db import exports

    await console.login()
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "notes.txt").write_text("dropped here by someone")
    made = folder / "tangqiao-20261123-20261129-summary.html"
    made.write_text("<p>an export</p>")
    (folder / "tangqiao-20261102-20261108-summary.html").write_text("<p>dropped with an export's name</p>")
    (tmp_path / "elsewhere.html").write_text("outside")
    (folder / "tangqiao-20261116-20261122-summary.html").symlink_to(tmp_path / "elsewhere.html")
    async with services.store.transaction() as session:  # the bot's own: recorded when made
        exports.record(session, date(2026, 11, 23), date(2026, 11, 29), [made], exports.SCHEDULED)
        exports.record(session, date(2026, 11, 16), date(2026, 11, 22), [folder / "tangqiao-20261116-20261122-summary.html"],
                       exports.SCHEDULED)
    html = (await console.get("/staff/exports"))[1]
    assert 'href="/staff/exports/tangqiao-20261123-20261129-summary.html"' in html and "每周自动" in html
    assert "notes.txt" not in html and "20261102" not in html and 'href="/staff/exports/tangqiao-20261116' not in html
    assert (await console.get("/staff/exports/tangqiao-20261123-20261129-summary.html"))[0] == 200
    assert (await console.get("/staff/exports/notes.txt"))[0] == 404
    assert (await console.get("/staff/exports/tangqiao-20261102-20261108-summary.html"))[0] == 404  # not the bot's
    assert (await console.get("/staff/exports/tangqiao-20261116-20261122-summary.html"))[0] == 404  # a link


# -- no 500 for any input ----------------------------------------------------------------------

ODD_VALUES = ["²", "٣", "３", "1²", "-1", "0", "99999999999999999999999", "1e9", "", " ", "x" * 5000, "\x00", "a\x00b",
              "%", "_", "../../etc/passwd", "<script>alert(1)</script>", "0001-01-01", "9999-12-31", "2026-02-30",
              "TQ-2611-²", "TQ-9999-99999999999999999999", "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
              "1" * 13, "ⅷ", "🙂"]


def _routes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path and path.startswith("/staff") and route.method in ("GET", "POST"):
            found.append((route.method, path))
    return found


def _fill(path: str, value: str, ticket_number: str) -> list[str]:
    """The path with each of its parameters set to `value` in turn (the others real)."""
    names = re.findall(r"\{(\w+)(?::[^}]*)?\}", path)
    real = {"number": ticket_number, "index": "0", "action": "note", "name": "x.html", "id": "1"}
    results = []
    for name in names or [None]:
        filled = path
        for other in names:
            given = value if other == name else real.get(other, "1")
            filled = re.sub(r"\{" + other + r"(?::[^}]*)?\}", _quote(given), filled)
        results.append(filled)
    return results


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="") or "%20"


FIELDS = ["text", "state", "name", "category", "q", "status", "due", "place", "committee", "mine", "page", "view",
          "week", "days", "until", "theme", "back", "from", "to", "topic", "title_zh", "start", "end", "publish",
          "version", "ids", "assignee", "reveal", "lang", "sort", "order", "since", "wait", "old_name", "places", "phone", "title_en",
          "new", "preview", "role", "team", "password", "edit"]


async def test_every_console_route_answers_odd_input_without_a_500(console, services):
    ticket = await new_ticket(services)
    await console.login()
    token = await console.csrf()
    routes = _routes(console.server.app)
    assert len(routes) >= 15
    problems = []
    for method, path in routes:
        if path in ("/staff/logout",):
            continue
        for value in ODD_VALUES:
            for url in _fill(path, value, ticket.number):
                fields = {name: value for name in FIELDS}
                if method == "GET":
                    status, text, _ = await console.get(url, params=fields)
                else:
                    status, text, _ = await console.post(url, {**fields, "csrf": token})
                if status >= 500:
                    problems.append((method, url[:80], repr(value)[:20], status, text[:200]))
    assert not problems, problems[:10]
    assert (await console.get("/staff/"))[0] == 200  # still signed in: nothing above broke the session
