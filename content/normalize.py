"""Text normalisation shared by the matcher and the intent rules.

Residents write full-width punctuation, Shanghainese (阿拉, 伐, 哪能, 几钿), homophone typos
(为棋 for 围棋) and English with typos. `normalize()` folds width and case and maps common
Shanghainese words to Mandarin; `pinyin_keys()` gives each Chinese character a toneless,
"fuzzy" syllable (zh=z, ch=c, sh=s, n=l, -ng=-n, as pinyin input methods do) so that a keyword
can be found in a query typed with the wrong character of the same sound.
"""
from __future__ import annotations

import importlib.util
import re
import unicodedata
from functools import lru_cache
from pathlib import Path


def _load_pinyin_dict() -> dict[int, str]:
    """pypinyin's table of readings (code point -> "wéi,wèi"), loaded on its own: importing
    the pypinyin package pulls in its phrase dictionaries too, 0.25 s of start-up we don't use."""
    package = importlib.util.find_spec("pypinyin")
    path = Path(package.origin).parent / "pinyin_dict.py"
    spec = importlib.util.spec_from_file_location("_tangqiao_pinyin_dict", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pinyin_dict


pinyin_dict = _load_pinyin_dict()

# Shanghainese (and chat) words -> Mandarin, longest first so 啥辰光 wins over 啥.
_DIALECT = {
    "啥辰光": "什么时候", "辰光": "时候", "几钿": "多少钱", "哪能": "怎么", "哪恁": "怎么",
    "屋里厢": "家里", "屋里": "家里", "阿拉": "我们", "伊拉": "他们", "侬": "你", "伊": "他",
    "做啥": "干什么", "啥": "什么", "覅": "不要", "勿": "不", "晓得": "知道", "今朝": "今天",
    "明朝": "明天", "小囡": "孩子", "囡囡": "孩子", "事体": "事情", "物事": "东西", "交关": "很",
    "搿": "这", "迭个": "这个", "辣海": "在", "寻": "找", "欢喜": "喜欢", "老娘": "母亲",
    "礼拜": "星期", "好伐": "好吗", "伐": "吗", "哦": "", "呀": "", "啊": "", "呢": "", "咯": "",
}
_DIALECT_RE = re.compile("|".join(sorted(map(re.escape, _DIALECT), key=len, reverse=True)))
_SPACE_RE = re.compile(r"\s+")
_HAN_RE = re.compile(r"[\u3400-\u9fff]")


def normalize(text: str) -> str:
    """Width- and case-folded text with Shanghainese mapped to Mandarin and spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DIALECT_RE.sub(lambda m: _DIALECT[m.group(0)], text)
    return _SPACE_RE.sub(" ", text).strip()


# a mobile (11 digits) or a landline (8, maybe after 021), spaces or dashes inside: its digits say
# nothing of what a message means, and read as characters they pulled it toward "12345"
_PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d){8}(?!\d)|(?<!\d)(?:021[\s-]?)?\d{4}[\s-]?\d{4}(?!\d)")
PHONE_TOKEN = "☎"


def without_phones(text: str) -> str:
    """`text` (normalised) with every phone number replaced by one placeholder (content/features.py)."""
    return _SPACE_RE.sub(" ", _PHONE_RE.sub(f" {PHONE_TOKEN} ", text)).strip()


def has_han(text: str) -> bool:
    return _HAN_RE.search(text) is not None


_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_TONE_MARKS = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ", "aaaaeeeeiiiioooouuuuvvvvvnnnm")


@lru_cache(maxsize=20000)
def _syllable(char: str) -> str:
    """The first (most common) reading of a character, toneless and fuzzy; the char itself if none."""
    readings = pinyin_dict.get(ord(char))
    if not readings:
        return char
    syl = readings.split(",")[0].translate(_TONE_MARKS)
    for a, b in _FUZZY_INITIALS:
        if syl.startswith(a):
            syl = b + syl[len(a):]
            break
    if syl.endswith("ng") and len(syl) > 2:
        syl = syl[:-1]
    return syl


def pinyin_keys(text: str) -> tuple[str, ...]:
    return tuple(_syllable(c) for c in text)


_EN_WORD_RE = re.compile(r"[a-z][a-z'-]*|\d+")


def en_words(text: str) -> list[str]:
    """Lower-case English words, crudely stemmed (plural and -ing/-ed endings)."""
    return [stem(w) for w in _EN_WORD_RE.findall(text.lower())]


def stem(word: str) -> str:
    word = word.strip("'-")
    if word.endswith("'s"):
        word = word[:-2]
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + keep
    return word
