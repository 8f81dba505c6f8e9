"""`python -m bench match|startup|export|console|e2e|broadcast|retrain|live`: benchmarks that print figures (never pass/fail tests).

They need the development install (`make test` sets it up): the e2e benchmark runs the fake
Telegram Bot API of tests/fake_bot_api.py, and none of this folder is in the installed package.

    python -m bench match      the model's latency and start-up time
    python -m bench startup    a fresh interpreter's first answer (ask, ask with a database, the
                               console chat), median of 7, measured from outside the process
    python -m bench export [--database PATH] [--each-format]
                               the weekly export on 100,000 tickets and opinions (a week of 20,000
                               each) against a bare XlsxWriter + csv dump of the same cells
    python -m bench console [--database PATH]
                               the staff console's pages over HTTP with 100,000 tickets and opinions
    python -m bench e2e [--residents N] [--seconds S] [--rounds R] [--in-process]
                               the real bot against the fake Bot API: questions/s, tickets/s,
                               latency, memory, and a bare PTB echo bot as the ceiling
    python -m bench broadcast [--subscribers N]
                               an event's notices to N subscribers (default 10,000) against the fake
                               Bot API with Telegram's limits: time against the 30/s floor, nothing twice
    python -m bench retrain [--seconds S]
                               residents' reply latency and the event loop's lag while the model
                               retrains with staff's approved examples (a child process) and is swapped in
    python -m bench live [--pages N]
                               the console's live updates with N open pages (default 100): counter
                               reads a second while they wait, commit-to-page latency
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="benchmarks that print figures")
    parser.add_argument("what", choices=["match", "startup", "export", "console", "e2e", "broadcast", "retrain", "live"])
    parser.add_argument("--subscribers", type=int, default=10_000, help="broadcast: subscribers (default 10,000)")
    parser.add_argument("--residents", type=int, default=200, help="e2e: simulated residents (default 200)")
    parser.add_argument("--seconds", type=float, default=10.0, help="e2e: seconds measured per phase (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="e2e: echo and question phases, alternating (default 2)")
    parser.add_argument("--in-process", action="store_true",
                        help="e2e: run the bot in the fake server's process and event loop (default: a process of its own)")
    parser.add_argument("--pages", type=int, default=100, help="live: open console pages (default 100)")
    parser.add_argument("--database", help="console, export: a SQLite file to fill once and reuse (default: a fresh temporary one)")
    parser.add_argument("--each-format", action="store_true", help="export: each format alone too")
    args = parser.parse_args(argv)
    if args.what == "console":
        from bench.console import bench_console

        return bench_console(args.database)
    if args.what == "startup":
        from bench.startup import bench_startup

        return bench_startup()
    if args.what == "export":
        from bench.export import bench_export

        return bench_export(args.database, args.each_format)
    if args.what == "retrain":
        from bench.retrain import bench_retrain

        return bench_retrain(args.seconds)
    if args.what == "broadcast":
        from bench.broadcast import bench_broadcast

        return bench_broadcast(args.subscribers)
    if args.what == "live":
        from bench.live import bench_live

        return bench_live(args.pages)
    if args.what == "e2e":
        from bench.e2e import bench_e2e

        return bench_e2e(args.residents, args.seconds, in_process=args.in_process, rounds=args.rounds)
    from bench.match import bench_match

    return bench_match()


if __name__ == "__main__":
    sys.exit(main())
