"""Retraining without downtime (issue 25): approved examples become a new model, trained in a
child process, swapped in by every process sharing the database, and rolled back if need be.

An administrator's approval (the console's review page) adds a ModelVersion in state
`training`. Each process's ModelKeeper polls (MODEL_POLL_SECONDS):
- a version waiting to be trained is claimed by one process (its key, as the weekly export's)
  and trained in a child process (content/learning.py retrain: the cross-validated judgement and
  the fit, a minute of CPU kept off the event loop); it becomes `active`, or `held` when it
  lowers the cross-validated score by more than a point and no administrator confirmed it;
- the newest `active` version is the model to answer with: when it is not the one this process
  has, its file is read from the model cache in a thread (or, on another host, trained from the
  same approved examples in a child: the same examples give the same model) and swapped in
  whole (content/live_model.py). A rollback (`python -m bot content rollback`) marks the newest
  active version rolled back, so every process goes back to the one before.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from content.live_model import LiveModel
from content.model import Model
from handlers.services import Services

log = logging.getLogger(__name__)


def train_version(before: list[tuple[str, str]], after: list[tuple[str, str]], confirmed: bool) -> tuple[str, str, int]:
    """In the child: (the model's name in the cache, or "" when held; the report; examples learned)."""
    from content.learning import as_examples, retrain
    from content.loader import load_content

    content = load_content()
    old, new = as_examples(before, content), as_examples(after, content)
    outcome = retrain(content, old, new, confirmed)
    return outcome.model_hash, outcome.judgement.report(), len(new)


def model_for(pairs: list[tuple[str, str]]) -> tuple[str, str]:
    """In the child: the model of these approved examples in the cache (trained if missing); (its name, its file)."""
    from content.learning import as_examples
    from content.loader import load_content
    from content.model_cache import load_model, model_hash, model_path

    content = load_content()
    extra = as_examples(pairs, content)
    load_model(content, extra=extra)
    name = model_hash(extra)
    return name, str(model_path(name))


async def in_child(function, *args):
    """`function(*args)` in a process of its own (spawned: nothing of this one is copied)."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
    finally:
        pool.shutdown(wait=False)


class ModelKeeper:
    """This process's part: train what waits (once among the processes), answer with the current version."""

    def __init__(self, services: Services):
        self.services = services
        self.model: LiveModel = services.model
        self.training: asyncio.Task | None = None

    async def poll(self) -> None:
        await self.swap_in_current()
        if self.training is None or self.training.done():
            self.training = asyncio.create_task(self.train_waiting(), name="model training")

    async def train_waiting(self) -> None:
        from db import review

        store = self.services.store
        async with store.transaction() as session:
            waiting = await review.to_train(session)
        for version in waiting:
            key = f"job:train-model:{version.id}:{int(version.confirmed)}"
            if not await store.claim_update(key, self.services.clock()):
                continue  # another process trains it
            try:
                async with store.transaction() as session:
                    before = await review.trained_examples(session, None)
                    after = await review.trained_examples(session, version.id)
                name, report, count = await in_child(train_version, before, after, version.confirmed)
            except Exception:
                log.exception("training model version %s failed", version.id)
                async with store.transaction() as session:
                    await review.finish(session, version.id, "failed", report="training failed: see the bot's log",
                                        now=self.services.clock())
                continue
            async with store.transaction() as session:
                await review.finish(session, version.id, "active" if name else "held", name, report, count,
                                    now=self.services.clock())
            log.info("model version %s: %s\n%s", version.id, "active" if name else "held", report)
            if name:
                await self.swap_in_current()

    async def swap_in_current(self) -> bool:
        """Answer with the current version's model, if this process does not already; True when swapped."""
        from content.model_cache import equip, model_path
        from db import review

        async with self.services.store.transaction() as session:
            version = await review.current(session)
        name = version.model_hash if version is not None else self.model.files_hash
        if name == self.model.model_hash:
            return False
        path = model_path(name)
        if not path.exists():  # trained on another host: the same examples make the same model here
            async with self.services.store.transaction() as session:
                pairs = await review.trained_examples(session, None)
            name, path = await in_child(model_for, pairs)
        model = await asyncio.to_thread(
            lambda: equip(Model.load(path, self.model.features, self.model.signs), self.services.content, name))
        self.model.swap(model, name, version.id if version is not None else None)
        log.info("now answering with model %s (version %s)", name, version.id if version is not None else "of the files")
        return True

    async def stop(self) -> None:
        if self.training is not None and not self.training.done():
            self.training.cancel()
