"""The bot's background work, whatever its channels: the outbox worker and the periodic jobs
(chase tickets and purge old update keys, replay the Telegram inbox, the weekly export, delete
review items past REVIEW_RETENTION_DAYS, train and swap in the model versions of bot/retrain.py).

`Background` is started once per process by its runner: `python -m bot serve` (bot/lifecycle.py),
or Telegram's long polling (bot/channels/telegram.py's post_init), so a WeChat-only server
chases tickets and makes the weekly export too. Without a moderation chat the chases are still
recorded in each ticket's event log and the export's files still land in EXPORT_DIR (the staff
web console's exports page). Several processes sharing one database run the jobs each: a chase
is posted once (its primary key), the week's export once (the first process to claim its key).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot import metrics
from bot.delivery import OutboxWorker, Sender
from bot.retrain import ModelKeeper
from bot.settings import Settings
from content.live_model import LiveModel
from db.clock import SHANGHAI
from db.outbox import OFFICE_ROBOT
from handlers import chase, reports
from handlers.rules.workdays import Calendar
from handlers.services import Exporter, Services

log = logging.getLogger(__name__)

CHASE_EVERY = 300.0  # seconds between two runs of handlers.chase
CHASE_FIRST = 60.0  # the first run, shortly after start-up
REPLAY_EVERY = 60.0  # seconds between two looks for updates a dead process left (PostgreSQL)
OUTBOX_IDLE = 1.0  # seconds between the worker's looks at the outbox when nobody wakes it
PURGE_EVERY = 3600.0  # seconds between two deletions of the review items past their retention
RECENT_ANSWERS_KEPT = timedelta(days=1)  # a 👎 comes soon after the answer, or not at all
CHANGES_KEPT = timedelta(days=1)  # the console's change feed (db/changes.py): what an open page may ask for
STOP_TIMEOUT = 10.0  # seconds the worker gets to finish the messages it is sending


def export_in_child(settings: Settings) -> Exporter:
    """The bot's exporter: the export of any days, made in a process of its own
    (bot/export/run.py), as seconds of CPU in this one would hold up every resident's reply."""
    from bot.export.run import exporter

    calendar = Calendar(settings.holidays, settings.extra_workdays, settings.office_hours)
    return exporter(settings.database_url, calendar, Path(settings.export_dir))


async def weekly_export(services: Services, settings: Settings | None = None) -> bool:
    """Last week's export, made and posted once: every bot process sharing a database runs this
    job, and the first to claim the week's key (as an update's, db.store.Store.claim_update)
    makes it. False when another process did, or (with `settings`) when it was made already:
    recorded in the database (db/exports.py, whichever server made it) or its files in EXPORT_DIR."""
    if settings is not None and await made_already(services, settings):
        log.info("last week's export was made already")
        return False
    key = f"job:weekly-export:{reports.last_week(reports.today_in_shanghai())[0].isoformat()}"
    if not await services.store.claim_update(key, services.clock()):
        log.info("the weekly export is made by another process")
        return False
    try:
        await reports.weekly(services)
    except BaseException:
        await services.store.release_update(key)  # not made: a later run may
        raise
    return True


def until_weekly(settings: Settings, now: datetime) -> float:
    """Seconds from `now` to the next EXPORT_DAY at EXPORT_TIME, Shanghai time."""
    local = now.astimezone(SHANGHAI)
    at = datetime.combine(local.date(), settings.export_time, tzinfo=SHANGHAI)
    at += timedelta(days=(settings.export_day - local.weekday()) % 7)
    if at <= local:
        at += timedelta(days=7)
    return (at - local).total_seconds()


def missed_export(settings: Settings, now: datetime) -> bool:
    """Whether last week's export was due already (this week's EXPORT_DAY at EXPORT_TIME is past):
    then the job runs shortly after start-up, and makes it unless it was made (made_already: the
    server may have been down at its hour)."""
    local = now.astimezone(SHANGHAI)
    monday = local.date() - timedelta(days=local.weekday())
    return local >= datetime.combine(monday + timedelta(days=settings.export_day), settings.export_time, tzinfo=SHANGHAI)


async def made_already(services: Services, settings: Settings) -> bool:
    """Whether last week's weekly export is recorded (any server's) or its files are in EXPORT_DIR
    (made before exports were recorded). (The week's claim key cannot tell: update keys are purged
    after two days.)"""
    from db import exports

    start, end = reports.last_week(reports.today_in_shanghai())
    async with services.store.transaction() as session:
        if await exports.made_weekly(session, start, end):
            return True
    return any(Path(settings.export_dir).glob(f"tangqiao-{start:%Y%m%d}-{end:%Y%m%d}*"))


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], Awaitable[Any]]
    first: Callable[[], float]  # seconds from start-up to the first run
    then: Callable[[], float]  # seconds from the end of a run to the next


async def purge_review(services: Services, settings: Settings) -> int:
    """Delete the review items older than REVIEW_RETENTION_DAYS (approved examples stay), and the
    residents' last answers older than a day; returns how many items."""
    from db import review

    now = services.clock()
    async with services.store.transaction() as session:
        return await review.purge(session, now - timedelta(days=settings.review_retention_days), now - RECENT_ANSWERS_KEPT)


async def purge_changes(services: Services) -> int:
    """Forget the console's changes older than CHANGES_KEPT (a page open that long reloads)."""
    from db import changes

    async with services.store.transaction() as session:
        return await changes.purge(session, services.clock() - CHANGES_KEPT)


def jobs_for(services: Services, settings: Settings, replay: Callable[[], Awaitable[Any]] | None = None,
             keeper: ModelKeeper | None = None) -> list[Job]:
    """The periodic jobs of a process; `replay` handles again the updates a dead process left
    in Telegram's inbox (only with Telegram); `keeper` trains and swaps in the model versions."""
    weekly = lambda: until_weekly(settings, services.clock().astimezone(SHANGHAI))  # noqa: E731
    # a missed week's export is made shortly after start-up, then at the usual hour
    first_weekly = lambda: min(weekly(), CHASE_FIRST) if missed_export(settings, services.clock().astimezone(SHANGHAI)) else weekly()  # noqa: E731
    jobs = [Job("chase tickets", lambda: chase.run(services), lambda: CHASE_FIRST, lambda: CHASE_EVERY),
            Job("purge review items", lambda: purge_review(services, settings), lambda: CHASE_FIRST, lambda: PURGE_EVERY),
            Job("purge live changes", lambda: purge_changes(services), lambda: CHASE_FIRST, lambda: PURGE_EVERY)]
    if keeper is not None:
        jobs.append(Job("model versions", keeper.poll, lambda: 0.0,
                        lambda: settings.model_poll_seconds))
    if replay is not None:
        jobs.append(Job("replay the inbox", replay, lambda: REPLAY_EVERY, lambda: REPLAY_EVERY))
    if services.exporter is not None:
        jobs.append(Job("weekly export", lambda: weekly_export(services, settings), first_weekly, weekly))
    return jobs


async def run_jobs(jobs: list[Job], stop: asyncio.Event) -> None:
    """Run each job when it is due until `stop` is set; a job that fails is logged and runs
    again at its next time."""
    loop = asyncio.get_running_loop()
    due = {job.name: loop.time() + job.first() for job in jobs}
    while jobs and not stop.is_set():
        job = min(jobs, key=lambda j: due[j.name])
        wait = due[job.name] - loop.time()
        if wait > 0:
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except TimeoutError:
                pass
            continue
        try:
            await job.run()
        except Exception:
            log.exception("the job %r failed; it runs again at its next time", job.name)
        due[job.name] = loop.time() + job.then()


class Background:
    """The outbox worker (one for every channel) and the periodic jobs of one process."""

    def __init__(self, services: Services, settings: Settings, senders: Mapping[str, Sender],
                 replay: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.services = services
        self.robot = office_robot(settings)
        if self.robot is not None:  # whatever the residents' channels: the office's group hears of new tickets
            senders = {**senders, OFFICE_ROBOT[0]: metrics.CountingSender(OFFICE_ROBOT[0], self.robot)}
        self.worker = OutboxWorker(services.store, dict(senders), services)
        self.keeper = ModelKeeper(services) if isinstance(services.model, LiveModel) else None
        self.jobs = jobs_for(services, settings, replay, self.keeper)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if self._tasks:
            raise RuntimeError("the background work of this process is running already")
        self._tasks = [
            asyncio.create_task(self.worker.run(self._stop, self.services.store.queued, OUTBOX_IDLE), name="outbox worker"),
            asyncio.create_task(run_jobs(self.jobs, self._stop), name="periodic jobs"),
        ]

    async def stop(self) -> None:
        """The worker finishes the messages it is sending (the rest wait in the database); a
        job under way is cancelled after STOP_TIMEOUT."""
        self._stop.set()
        if self.keeper is not None:
            await self.keeper.stop()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT)
            for task in pending:
                log.warning("%s did not stop within %s s; cancelled", task.get_name(), STOP_TIMEOUT)
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("%s failed", task.get_name(), exc_info=task.exception())
            self._tasks = []
        if self.robot is not None:
            await self.robot.close()


def office_robot(settings: Settings):
    """The office's WeCom group robot (WECOM_ROBOT_URL), or None."""
    if not settings.wecom_robot_url:
        return None
    from bot.channels.wecom_robot import WeComRobot

    return WeComRobot(settings.wecom_robot_url)
