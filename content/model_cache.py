"""The trained model for this content: read from the cache under the content's hash, or trained
now (content/training.py, scikit-learn) and cached.

On a miss, or when the content, the examples (staff's approved ones too) or the code that trains
changed, the model is trained again (20-40 s) and the cache written, with a warning before and a line after: an
installation trains it once with `python -m bot content train`, so the bot never has to while it
serves.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from content.emergency import EMERGENCY_PATH, EmergencySigns
from content.features import CUES_PATH, SCOPE_PATH, features_for
from content.loader import AREAS_DIR, ContentBase
from content.model import EXAMPLES_DIR, Model
from content.normalize import normalize
from content.pinyin_input import PinyinReader, corpus_texts

if TYPE_CHECKING:
    from content.training import Example

log = logging.getLogger(__name__)


def load_model(content: ContentBase, areas_dir: Path = AREAS_DIR, extra: Sequence[Example] = ()) -> Model:
    """The model for this content (and `extra`, staff's approved examples): from the cache, else
    trained now (and cached)."""
    features, signs = features_for(), EmergencySigns()
    key = model_hash(extra, areas_dir)
    path = model_path(key)
    try:
        model = Model.load(path, features, signs)
    except (OSError, ValueError, KeyError):  # not trained yet for this content (or a damaged file): train
        from content.training import train  # scikit-learn: 1 s of import, only when training

        log.warning("no trained model for this content in %s: training it now (20-40 s; `python -m bot content train` "
                    "does this once, at install and after a change of the content)", path.parent)
        started = time.perf_counter()
        model = train(content, extra=extra)
        try:
            model.save(path)
        except OSError as exc:
            log.warning("model trained in %.1f s, but it cannot be cached in %s (%s): the next start trains again; "
                        "make the folder writable or set TANGQIAO_CACHE_DIR", time.perf_counter() - started, path.parent, exc)
        else:
            log.info("model trained in %.1f s and cached as %s", time.perf_counter() - started, path)
    return equip(model, content, key)


def equip(model: Model, content: ContentBase, key: str) -> Model:
    """What reading a message needs beside the trained arrays: pinyin read as Chinese, and each
    entry's names for follow-ups (a model swapped in after a retrain needs them too)."""
    model.pinyin = reader_for(model, cache_dir() / f"pinyin-{key}.json")
    model.names = names_of(content)
    model.related = {eid: tuple(e.related) for eid, e in content.entries.items()}
    return model


def names_of(content: ContentBase) -> dict[str, tuple[str, ...]]:
    """Each entry's keywords and titles (normalised): a follow-up naming one is about that entry."""
    return {eid: tuple(normalize(n) for n in (*e.keywords.zh, *e.keywords.en, e.title.zh, e.title.en) if len(n) >= 2)
            for eid, e in content.entries.items()}


def reader_for(model: Model, cache: Path | None = None) -> PinyinReader:
    """Pinyin read with the words of our own texts; what the model knows as English stays English."""
    return PinyinReader(corpus_texts, [t[2:] for t in model.vocabulary if t.startswith("w:")], cache)


def model_hash(extra: Sequence[Example] = (), areas_dir: Path = AREAS_DIR) -> str:
    """The cache's name for the model of this content and these approved examples."""
    if not extra:
        return content_hash(areas_dir)
    digest = hashlib.sha256("".join(f"{e.text}\0{e.label}\n" for e in extra).encode())
    return f"{content_hash(areas_dir)}-{digest.hexdigest()[:12]}"


def model_path(name: str) -> Path:
    return cache_dir() / f"model-{name}.npz"


def content_hash(areas_dir: Path = AREAS_DIR, examples_dir: Path = EXAMPLES_DIR) -> str:
    """What the trained model depends on: the content, the examples, scope.yaml, the code that
    makes features and trains, and scikit-learn's version."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    paths = [*sorted(areas_dir.glob("*.yaml")), *sorted(examples_dir.glob("*.jsonl")), SCOPE_PATH, EMERGENCY_PATH, CUES_PATH,
             *(here / f"{name}.py" for name in ("features", "training", "model", "model_cache", "normalize", "emergency",
                                                 "politeness", "pinyin_input", "followups"))]
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(metadata.version("scikit-learn").encode())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """TANGQIAO_CACHE_DIR, else $XDG_CACHE_HOME/tangqiao-bot, else ~/.cache/tangqiao-bot."""
    if configured := os.environ.get("TANGQIAO_CACHE_DIR"):
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tangqiao-bot"
