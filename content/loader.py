"""Load the content base from content/areas/*.yaml, collecting every problem on the way.

`load_content()` raises `ContentError` listing all problems; `read_content()` returns the
base and the problem list, which `python -m bot content check` prints one per line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from content.schema import Area, AreaFile, Entry

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's C parser when present

CONTENT_DIR = Path(__file__).resolve().parent
AREAS_DIR = CONTENT_DIR / "areas"
REPORT_PATH = CONTENT_DIR / "source" / "report.txt"
CITATION = {"zh": "据《塘桥街道2025年社代会报告》", "en": "Source: Tangqiao Subdistrict 2025 community congress report"}


@dataclass(frozen=True)
class Problem:
    file: str
    entry: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.entry}" if self.entry else self.file
        return f"{where}: {self.message}"


@dataclass
class ContentBase:
    areas: list[Area] = field(default_factory=list)  # in menu order
    entries: dict[str, Entry] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # entry id -> file name

    def in_area(self, area_id: str) -> list[Entry]:
        return [e for e in self.entries.values() if e.area == area_id]

    def area(self, area_id: str) -> Area | None:
        return next((a for a in self.areas if a.id == area_id), None)


class ContentError(RuntimeError):
    def __init__(self, problems: list[Problem]):
        super().__init__("content base has problems:\n" + "\n".join(map(str, problems)))
        self.problems = problems


def _describe(error: ValidationError, data: dict) -> list[tuple[str, str]]:
    """(entry id, message) for each pydantic error, naming the entry when the path has one."""
    out = []
    for err in error.errors():
        loc = err["loc"]
        entry = ""
        if len(loc) >= 2 and loc[0] == "entries" and isinstance(loc[1], int):
            raw = (data.get("entries") or [None] * (loc[1] + 1))[loc[1]]
            entry = raw.get("id", f"entry #{loc[1] + 1}") if isinstance(raw, dict) else f"entry #{loc[1] + 1}"
            loc = loc[2:]
        out.append((str(entry), f"{'.'.join(map(str, loc)) or 'file'}: {err['msg']}"))
    return out


def read_content(areas_dir: Path = AREAS_DIR) -> tuple[ContentBase, list[Problem]]:
    base, problems = ContentBase(), []
    paths = sorted(areas_dir.glob("*.yaml"))
    if not paths:
        problems.append(Problem(str(areas_dir), "", "no *.yaml area files"))
    for path in paths:
        name = path.name
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=SafeLoader)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append(Problem(name, "", f"not valid YAML: {' '.join(str(exc).split())}"))
            continue
        if not isinstance(data, dict):
            problems.append(Problem(name, "", "expected a mapping with 'area' and 'entries'"))
            continue
        try:
            parsed = AreaFile.model_validate(data)
        except ValidationError as exc:
            problems += [Problem(name, entry, msg) for entry, msg in _describe(exc, data)]
            continue
        if base.area(parsed.area.id):
            problems.append(Problem(name, "", f"area id {parsed.area.id!r} is used by another file"))
        base.areas.append(parsed.area)
        for entry in parsed.entries:
            if entry.id in base.entries:
                problems.append(Problem(name, entry.id, f"duplicate entry id (also in {base.files[entry.id]})"))
                continue
            base.entries[entry.id] = entry.model_copy(update={"area": parsed.area.id})
            base.files[entry.id] = name
    base.areas.sort(key=lambda a: (a.order, a.id))
    return base, problems


def load_content(areas_dir: Path = AREAS_DIR) -> ContentBase:
    base, problems = read_content(areas_dir)
    if problems:
        raise ContentError(problems)
    return base
