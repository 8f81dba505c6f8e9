"""The trained model for this content: read from the cache under the content's hash, or trained
now (content/training.py, scikit-learn) and cached.

On a miss, or when the content, the examples or the code that trains changed, the model is
trained again (20-40 s) and the cache written, with a warning before and a line after: an
installation trains it once with `python -m bot content train`, so the bot never has to while it
serves.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from importlib import metadata
from pathlib import Path

from content.emergency import EMERGENCY_PATH, EmergencySigns
from content.features import CUES_PATH, SCOPE_PATH, features_for
from content.loader import AREAS_DIR, ContentBase
from content.model import EXAMPLES_DIR, Model

log = logging.getLogger(__name__)


def load_model(content: ContentBase, areas_dir: Path = AREAS_DIR, cache: Path | None = None) -> Model:
    """The model for this content: from the cache (`cache`, else cache_dir()), else trained now (and cached)."""
    features, signs = features_for(), EmergencySigns()
    path = model_path(areas_dir, cache)
    try:
        return Model.load(path, features, signs)
    except (OSError, ValueError, KeyError):
        pass  # not trained yet for this content (or a damaged file): train
    from content.training import train  # scikit-learn: 1 s of import, only when training

    log.warning("no trained model for this content in %s: training it now (20-40 s; `python -m bot content train` "
                "does this once, at install and after a change of the content)", path.parent)
    started = time.perf_counter()
    model = train(content)
    try:
        model.save(path)
    except OSError as exc:
        log.warning("model trained in %.1f s, but it cannot be cached in %s (%s): the next start trains again; "
                    "make the folder writable or set TANGQIAO_CACHE_DIR", time.perf_counter() - started, path.parent, exc)
    else:
        log.info("model trained in %.1f s and cached as %s", time.perf_counter() - started, path)
    return model


def model_path(areas_dir: Path = AREAS_DIR, cache: Path | None = None) -> Path:
    """Where the model of this content is cached."""
    return (cache or cache_dir()) / f"model-{content_hash(areas_dir)}.npz"


def content_hash(areas_dir: Path = AREAS_DIR, examples_dir: Path = EXAMPLES_DIR) -> str:
    """What the trained model depends on: the content, the examples, scope.yaml, the code that
    makes features and trains, and scikit-learn's version."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    paths = [*sorted(areas_dir.glob("*.yaml")), *sorted(examples_dir.glob("*.jsonl")), SCOPE_PATH, EMERGENCY_PATH, CUES_PATH,
             *(here / f"{name}.py" for name in ("features", "training", "model", "model_cache", "normalize", "emergency"))]
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(metadata.version("scikit-learn").encode())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """TANGQIAO_CACHE_DIR, else $XDG_CACHE_HOME/tangqiao-bot, else ~/.cache/tangqiao-bot."""
    if configured := os.environ.get("TANGQIAO_CACHE_DIR"):
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tangqiao-bot"
