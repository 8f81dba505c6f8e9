"""Which neighbourhood committee (居委会) looks after which places: the office's own list.

COMMITTEES_FILE names a YAML file mapping each committee to the areas it looks after, written
as handlers/rules/places.py area_of writes a ticket's area - a lane (峨山路91弄), an estate (金浦小区) - or
a road alone, which covers every lane and house number of that road (峨山路):

    峨山路居委会: [峨山路91弄, 峨山路101弄, 金浦小区]
    东方居委会: [东方路]

The queue's committee filter shows the tickets whose area is one of these or starts with one. The
file is the seed: once an administrator changes the list in the console (/staff/committees), the
database's list (db/committees.py) is the office's.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml


class CommitteesError(ValueError):
    """The file is not a mapping of names to lists of places; the message says where."""


def load(path: str | None) -> dict[str, tuple[str, ...]]:
    """The committees of the file (none without one); read again when the file changes."""
    if not path:
        return {}
    file = Path(path)
    return _load(str(file), file.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _load(path: str, _mtime: int) -> dict[str, tuple[str, ...]]:
    found = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(found, dict):
        raise CommitteesError(f"{path}: expected committee names, each with a list of places")
    out = {}
    for name, places in found.items():
        if not isinstance(places, list) or not all(isinstance(p, str) and p.strip() for p in places):
            raise CommitteesError(f"{path}: {name}: expected a list of places (lanes, estates or roads)")
        out[str(name)] = tuple(p.strip() for p in places)
    return out
