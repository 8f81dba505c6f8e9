"""The README's pictures of the staff console: `python -m bot demo` in a scratch folder, `python -m
bot serve`, then Debian's Chromium (Playwright, `executable_path`: no browser download) signs in
and takes the queue, a ticket with photos and the dashboard into docs/img/, at a desktop's size and
a phone's (390 px wide: the *-phone.png files).

    .venv/bin/python scripts/console_screenshots.py   # Chinese needs a CJK font: apt-get install fonts-wqy-microhei
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _shoot(base: str, password: str, ticket: str) -> None:
    """The queue, a ticket and the dashboard, in Chinese, at a desktop's size and a phone's (390 px)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
        for suffix, viewport in (("", {"width": 1280, "height": 900}), ("-phone", {"width": 390, "height": 844})):
            page = await (await browser.new_context(viewport=viewport, device_scale_factor=2 if suffix else 1)).new_page()
            await page.goto(f"{base}/staff/login")
            await page.fill("input[name=username]", "demo")
            await page.fill("input[name=password]", password)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base}/staff/")
            await page.screenshot(path=OUT / f"console-queue{suffix}.png")
            await page.goto(f"{base}/staff/tickets/{ticket}")
            await page.screenshot(path=OUT / f"console-ticket{suffix}.png", full_page=not suffix)
            await page.goto(f"{base}/staff/dashboard")
            await page.screenshot(path=OUT / f"console-dashboard{suffix}.png", full_page=not suffix)
        await browser.close()


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="tangqiao-screenshots-"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
           "DATABASE_URL": f"sqlite:///{folder / 'demo.db'}"}
    server = None
    try:
        done = subprocess.run([sys.executable, "-m", "bot", "demo"], cwd=folder, env=env, capture_output=True, text=True,
                              check=True)
        password = re.search(r"name demo, password (\S+)", done.stdout).group(1)
        with sqlite3.connect(folder / "demo.db") as db:  # a ticket with photos and a few steps of history
            (ticket,), = db.execute("select number from ticket t where photos != '[]' and status = 'in_progress' "
                                    "order by (select count(*) from ticketevent e where e.ticket_id = t.id) desc limit 1")
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], cwd=folder, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        OUT.mkdir(parents=True, exist_ok=True)
        asyncio.run(_shoot(base, password, ticket))
        print("\n".join(str(p.relative_to(ROOT)) for p in sorted(OUT.glob("console-*.png"))))
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
