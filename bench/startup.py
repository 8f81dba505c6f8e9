"""`python -m bench startup`: seconds from starting a fresh interpreter to its first answer, measured
from outside the process (wall clock around the whole command, Python's own start included).

- `python -m bot ask QUESTION` with no database (the evaluation's way: content, model, templates);
- the same with a database to read the office's events from (a migrated, empty SQLite file);
- `python -m bot chat` given one question and then end of input (the offline console chat: the
  database opened, the welcome menu, the answer).

Each runs once to warm the model cache and the operating system's file cache, then RUNS times;
the figure is the median, with the CPU seconds beside it (less moved by other work on a shared
machine). It runs in an empty folder (no `.env`, no ./var), with the trained model of the usual
cache (TANGQIAO_CACHE_DIR if set) and Python's bytecode cache written, as an installed bot has it.
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "老人牛奶券怎么领"
RUNS = 7
AIM = 0.4  # seconds to the first answer, issue 24


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _timed(command: list[str], cwd: str, env: dict, stdin: str = "") -> tuple[float, float]:
    """Wall-clock seconds, and the child's CPU seconds (less moved by other work on the machine)."""
    cpu, started = _cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, input=stdin, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed, _cpu() - cpu


def _series(label: str, command: list[str], cwd: str, env: dict, stdin: str = "") -> float:
    _timed(command, cwd, env, stdin)  # the model cache and the file cache warm
    runs = [_timed(command, cwd, env, stdin) for _ in range(RUNS)]
    walls = [wall for wall, _ in runs]
    median = statistics.median(walls)
    print(f"{label}: median {median:.3f} s, best {min(walls):.3f}, worst {max(walls):.3f} "
          f"({', '.join(f'{w:.2f}' for w in walls)}); CPU median {statistics.median(c for _, c in runs):.3f} s",
          flush=True)
    return median


def bench_startup() -> int:
    python = sys.executable
    with tempfile.TemporaryDirectory() as folder:
        # Python as installed: bytecode cached (this machine's PYTHONDONTWRITEBYTECODE would compile
        # every module at every start, ~50 ms), no DATABASE_URL of the caller's
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONDONTWRITEBYTECODE")}
        env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        bare = _series("a bare interpreter (python -c pass), for scale", [python, "-c", "pass"], folder, env)
        ask = _series("python -m bot ask, no database", [python, "-m", "bot", "ask", QUESTION], folder, env)
        with_db = {**env, "DATABASE_URL": f"sqlite:///{folder}/bench.db"}
        subprocess.run([python, "-m", "bot", "db", "upgrade"], cwd=folder, env=with_db, check=True, capture_output=True)
        _series("python -m bot ask, events read from a database", [python, "-m", "bot", "ask", QUESTION], folder, with_db)
        _series("python -m bot chat, one question then end of input", [python, "-m", "bot", "chat"], folder, with_db,
                stdin=QUESTION + "\n")
    print(f"first answer (ask, median of {RUNS}): {ask:.3f} s against the aim of {AIM} s "
          f"({ask - bare:.3f} s above a bare interpreter)")
    return 0
