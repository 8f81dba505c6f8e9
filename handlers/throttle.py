"""A resident sending too much too fast (a stuck key, a script) is slowed down politely.

In memory and per process on purpose: it protects the bot and the staff chat from a flood,
it is not a security boundary, and forgetting it on restart harms no one.
"""
from __future__ import annotations

import time
from collections import deque


class Throttle:
    def __init__(self, limit: int = 20, window: float = 60.0, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._seen: dict[str, deque[float]] = {}
        self._warned: dict[str, float] = {}

    def check(self, key: str) -> str:
        """"ok", "warn" (the first message over the limit: say so once) or "drop"."""
        now = self.clock()
        times = self._seen.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        times.append(now)
        if len(times) <= self.limit:
            self._warned.pop(key, None)
            return "ok"
        if now - self._warned.get(key, -self.window * 2) > self.window:
            self._warned[key] = now
            return "warn"
        return "drop"
