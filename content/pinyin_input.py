"""Pinyin typed for Chinese ("laonianren youdaizheng zai nali ban", "lou li mao yan le",
"lǎo nián rén", "lao3nian2ren2") read as the Chinese it spells.

Residents without a Chinese input method type pinyin. `PinyinReader.read()` says whether a
message is pinyin and, if so, which Chinese it spells: the message's letters are cut into words
of our own corpus (every Chinese text of the content base, the examples and the report, read
with pypinyin in context, so 银行 is yin hang and 还有 hai you), fewest words first (the longest
known words), the commoner word on a tie; a syllable no word covers becomes its commonest
character. Spaces and tone digits the resident typed are syllable boundaries a word must respect.

Telling pinyin from English: every letter group must cut into pinyin syllables (English nearly
always has a word that does not: the, to, is, my, I), the message must have two syllables at
least, and most of its words must not be English words the content knows ("women", "can", "he").

The corpus's word table (about 2 s to build with pypinyin) is built on the first pinyin message
and kept in the model's cache directory under the content's hash.
"""
from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path

from content.loader import CONTENT_DIR
from content.normalize import pinyin_dict, stem

MAX_WORD = 6  # characters in a corpus word
MIN_SYLLABLES = 2
_TONE_MARKS = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ", "aaaaeeeeiiiioooouuuuvvvvvnnnm")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")
_HAN = re.compile(r"[\u3400-\u9fff]")
_TOKEN = re.compile(r"[a-z]+|\d")
_NUMBER = re.compile(r"(?<![a-z0-9])(\d+)(?![a-z0-9])")  # a number of its own, not a tone digit
_ALLOWED = re.compile(r"[a-z0-9\s,.!?;:'\-，。！？；：、~～()（）]+")


def _syllables() -> frozenset[str]:
    """Every toneless pinyin syllable (from pypinyin's table of readings), ü written v."""
    out = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            out.add(reading.translate(_TONE_MARKS))
    return frozenset(s for s in out if s.isascii() and s.isalpha())


SYLLABLES = _syllables()
# common English words that happen to cut into pinyin syllables (the model's own English words count too)
ENGLISH_LOOKALIKES = frozenset("""
a an he she me men women man can ban fan pan ran tan wan hang long song bang gang sang tang ten pen hen den
bin pin tin sin tie lie pie die name same game came dame lame tame time mine line nine pine dine
lane pane cane mane sane tune dune june gene anime panda banana canada china chinese agenda guide tea sea you
""".split())
_LONGEST = max(map(len, SYLLABLES))


def split_syllables(letters: str) -> list[str] | None:
    """`letters` cut into pinyin syllables, the fewest pieces (xian -> xian, not xi an); None if it can't be."""
    best: list[list[str] | None] = [[]] + [None] * len(letters)
    for end in range(1, len(letters) + 1):
        for start in range(max(0, end - _LONGEST), end):
            if best[start] is not None and letters[start:end] in SYLLABLES:
                candidate = best[start] + [letters[start:end]]
                if best[end] is None or len(candidate) < len(best[end]):
                    best[end] = candidate
    return best[-1]


class PinyinReader:
    def __init__(self, corpus: Callable[[], Iterable[str]], english: Iterable[str] = (), cache: Path | None = None):
        """`corpus`: the Chinese texts to learn words from (called once, when first needed);
        `english`: English words the content knows; `cache`: where to keep the word table."""
        self._corpus, self._cache, self._known = corpus, cache, english

    @cached_property
    def _english(self) -> frozenset[str]:
        return frozenset(w for w in self._known if len(w) >= 2) | ENGLISH_LOOKALIKES

    def looks_like_pinyin(self, text: str) -> bool:
        text = _plain(text)
        if _HAN.search(text) or not _ALLOWED.fullmatch(text):
            return False
        words = re.findall(r"[a-z]+", text)
        syllables = [split_syllables(w) for w in words]
        if not words or any(s is None for s in syllables) or sum(map(len, syllables)) < MIN_SYLLABLES:
            return False
        return 2 * sum(1 for w in words if stem(w) in self._english) < len(words)

    def read(self, text: str) -> str | None:
        """The Chinese `text` spells when it is pinyin, else None. A number standing on its own
        ("91 nong 5 hao lou") is kept as it is: 91弄5号楼; a digit after a syllable is its tone."""
        if not self.looks_like_pinyin(text):
            return None
        out = []
        for piece in _NUMBER.split(_plain(text)):
            if piece.isdigit():
                out.append(piece)
                continue
            letters, bounds = "", set()
            for token in _TOKEN.findall(piece):
                if letters:
                    bounds.add(len(letters))  # a space, a mark or a tone digit ends a syllable
                if token.isalpha():
                    letters += token
            if letters:
                if not (spelt := self._spell(letters, bounds)):
                    return None
                out.append(spelt)
        return "".join(out) or None

    def _spell(self, letters: str, bounds: set[int]) -> str:
        """The fewest corpus words spelling `letters`, each respecting the typed boundaries."""
        words = self._words
        n = len(letters)
        best: list[tuple[float, int, str] | None] = [(0.0, 0, "")] + [None] * n  # cost, from, word
        for start in range(n):
            if best[start] is None:
                continue
            for end in range(start + 1, min(n, start + MAX_WORD * _LONGEST) + 1):
                for hanzi, cost, inner in words.get(letters[start:end], ()):
                    if all(b - start in inner for b in bounds if start < b < end):
                        total = best[start][0] + cost
                        if best[end] is None or total < best[end][0]:
                            best[end] = (total, start, hanzi)
                        break
        if best[n] is None:
            return ""
        pieces, at = [], n
        while at:
            _, start, hanzi = best[at]
            pieces.append(hanzi)
            at = start
        return "".join(reversed(pieces))

    @cached_property
    def _words(self) -> dict[str, list[tuple[str, float, tuple[int, ...]]]]:
        """letters -> [(Chinese, cost, syllable boundaries inside)], the commonest first."""
        table = self._load() if self._cache else None
        if table is None:
            table = self._build()
            if self._cache:
                self._save(table)
        return {letters: [(hanzi, cost, tuple(inner)) for hanzi, cost, inner in entries]
                for letters, entries in table.items()}

    def _build(self) -> dict[str, list]:
        from pypinyin import Style, lazy_pinyin  # 0.5 s of dictionaries: only to build the table

        counts: Counter[tuple[str, tuple[str, ...]]] = Counter()
        for text in self._corpus():
            for run in _HAN_RUN.findall(text):
                sounds = [s.translate(_TONE_MARKS) for s in lazy_pinyin(run, style=Style.NORMAL)]
                if len(sounds) != len(run):
                    continue
                for size in range(1, MAX_WORD + 1):
                    for i in range(len(run) - size + 1):
                        counts[(run[i:i + size], tuple(sounds[i:i + size]))] += 1
        for syllable, char in _a_char_for_each_syllable().items():  # a syllable the corpus lacks
            counts.setdefault((char, (syllable,)), 0)
        biggest = max(counts.values())
        by_letters: dict[str, dict[tuple[int, ...], tuple[str, int]]] = defaultdict(dict)
        for (hanzi, sounds), count in counts.items():
            if count < 2 and len(hanzi) > 3:
                continue  # a long string seen once is a sentence, not a word
            inner = tuple(sum(len(s) for s in sounds[:k]) for k in range(1, len(sounds)))
            kept = by_letters["".join(sounds)].get(inner)
            if kept is None or count > kept[1]:
                by_letters["".join(sounds)][inner] = (hanzi, count)
        # a word costs 1 (fewest words win), less the commoner it is (by a hundredth at most)
        return {letters: sorted(([hanzi, round(1 - 0.01 * math.log1p(count) / math.log1p(biggest), 6), list(inner)]
                                 for inner, (hanzi, count) in options.items()), key=lambda e: e[1])
                for letters, options in by_letters.items()}

    def _load(self) -> dict | None:
        try:
            return json.loads(self._cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _save(self, table: dict) -> None:
        try:
            self._cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(table, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, self._cache)
        except OSError:
            pass  # built again next time


def corpus_texts() -> Iterable[str]:
    """Every text of content/ with Chinese in it: the entries, the examples, the report, the
    emergency signs and the cues, the templates."""
    for path in sorted(CONTENT_DIR.rglob("*")):
        if path.suffix in (".yaml", ".jsonl", ".txt", ".j2") and path.is_file():
            yield path.read_text(encoding="utf-8")


def _plain(text: str) -> str:
    """Lower case, full width folded, tone marks taken off (ü -> v)."""
    return unicodedata.normalize("NFKC", text).lower().translate(_TONE_MARKS).strip()


def _a_char_for_each_syllable() -> dict[str, str]:
    """A common character (the first in the basic block whose first reading it is) per syllable."""
    out: dict[str, str] = {}
    for code, readings in sorted(pinyin_dict.items()):
        if 0x4E00 <= code <= 0x9FFF:
            out.setdefault(readings.split(",")[0].translate(_TONE_MARKS), chr(code))
    return out
