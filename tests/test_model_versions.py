"""Every process sharing the database answers with the newest active model version, and goes
back to the one before on a rollback (bot/retrain.py's ModelKeeper), without training: the
version's model here is the files' own with thresholds that answer nothing."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bot.retrain import ModelKeeper
from content.live_model import LiveModel
from content.model import Model, Thresholds
from content.model_cache import model_path
from db.models import ModelVersion
from db.store import Store
from tests.conftest import url_of
from tests.test_learning_e2e import services  # noqa: F401 (the fixture: a swappable model, a cache of its own)
from tests.test_review import turn

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "老人牛奶券怎么领"


async def test_two_processes_pick_up_a_new_version_and_a_rollback_restores_the_answers(services):  # noqa: F811
    files = services.model.model
    mute = Model(files.features, files.signs, files.classes, files.vocabulary, files.idf, files.weights, files.intercept,
                 Thresholds(emergency=99, kind=99, answer=99, lead=99, clarify=99, spread=0))
    mute.save(model_path("mute"))
    other_store = await Store.open(url_of(services.store))  # another process's connection and model
    other = replace(services, store=other_store, model=LiveModel(files, services.model.model_hash))
    try:
        first, second = ModelKeeper(services), ModelKeeper(other)
        assert not await first.swap_in_current()  # no version yet: the files' model
        async with services.store.transaction() as session:
            session.add(ModelVersion(state="active", model_hash="mute", examples=1))
            session.add(ModelVersion(state="held", model_hash="", examples=2))  # held: not answered with
        assert await first.swap_in_current() and await second.swap_in_current()
        assert services.model.version == other.model.version == 1
        assert (await turn(services, QUESTION, user="a")).kind == "fallback"
        assert (await turn(other, QUESTION, user="b")).kind == "fallback"

        env = {**os.environ, "DATABASE_URL": url_of(services.store), "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-m", "bot", "content", "rollback"], capture_output=True, text=True,
                              env=env, timeout=120)
        assert done.returncode == 0 and "rolled back model version 1" in done.stdout, done.stderr
        assert await ModelKeeper(services).swap_in_current()  # a keeper made after the swap knows the files' model too
        assert await second.swap_in_current()
        assert services.model.version is None and other.model.version is None
        assert (await turn(services, QUESTION, user="c")).kind == "answer"
        assert (await turn(other, QUESTION, user="d")).kind == "answer"
        again = subprocess.run([sys.executable, "-m", "bot", "content", "rollback"], capture_output=True, text=True,
                               env=env, timeout=120)
        assert again.returncode == 0 and "nothing to roll back" in again.stdout
    finally:
        await other_store.close()
