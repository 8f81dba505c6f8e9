"""Phone and ID-card numbers in what residents typed: masked for the export and staff views
(138****1234), erased by /forgetme.

Residents type numbers as they say them: "138 1234 5678", "1 3 8 1 2 3 4 5 6 7 8", "138-1234-5678",
"139.1234.5678", "138/1234/5678", "138_1234_5678", full-width digits and separators, Chinese
numerals ("一三八一二三四五六七八", 幺 for 1, 〇 and 零 for 0), the 18-digit ID card (also dotted:
310115.19800101.123X) and the 15-digit one issued before 1999. Mobiles and ID cards may have any of
these separators between any digits; landlines only spaces (a dash there is a date's or a ticket
number's: 2026-11-30, TQ-2611-0042, and a dot a date's: 2026.11.30), or a dash between area code and number.
"""
from __future__ import annotations

import re
import unicodedata

_CHINESE = "零〇一二三四五六七八九幺"  # a number read out: 幺 is 1, as in 幺三九
_CHINESE_VALUE = {c: (n if c != "〇" else 0) for n, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "幺": 1}
_D = f"[0-9０-９{_CHINESE}]"
_NOT_AFTER_DIGIT = f"(?<![0-9０-９{_CHINESE}])"
_NOT_BEFORE_DIGIT = f"(?![0-9０-９{_CHINESE}])"
# between two digits of a mobile or ID card: spaces, dashes, dots, slashes, underscores (ASCII and
# full-width), or nothing
_SEP = "[ \u3000\\-－‐–—.．。·・/／_＿]{0,3}"
_SPACE = "[ \u3000]{0,2}"  # between two digits of a landline


def _spaced(count: int, between: str, digit: str = _D) -> str:
    """`count` digits with `between` allowed before each of them."""
    return f"(?:{between}{digit}){{{count}}}"


# every number masked below has 7 digits, maybe with separators: a quick test skips other texts
_SEVEN_DIGITS = re.compile(_D + _spaced(6, _SEP))
_ID_CARD = re.compile(  # 18 digits (the last may be X), or the old 15
    rf"{_NOT_AFTER_DIGIT}[1-9１-９一二三四五六七八九幺](?:{_spaced(16, _SEP)}{_SEP}[0-9０-９{_CHINESE}XxＸｘ]|"
    rf"{_spaced(14, _SEP)}){_NOT_BEFORE_DIGIT}")
_MOBILE = re.compile(
    rf"{_NOT_AFTER_DIGIT}(?:[+＋]?(?:86|８６){_SEP})?[1１一幺]{_SEP}[3-9３-９三四五六七八九]{_spaced(9, _SEP)}{_NOT_BEFORE_DIGIT}")
# a landline with or without its area code: 021-5888 1234, (021)58881234, 58881234. Not after a
# letter or "-", so ticket numbers (TQ-2611-0042) and dates (2026-11-30) stay as they are.
_LANDLINE = re.compile(
    rf"(?<![0-9０-９A-Za-z\-])(?:[(（]?0{_spaced(2, _SPACE)}{_D}?[)）]?[ -]?)?"
    rf"[2-8２-８]{_spaced(2, _SPACE)}(?:{_SPACE}{_D})?[ -]?{_D}{_spaced(3, _SPACE)}{_NOT_BEFORE_DIGIT}")


def _digits(value: str) -> str:
    return "".join(str(d) for d in (_CHINESE_VALUE.get(c, unicodedata.decimal(c, None)) for c in value) if d is not None)


def mask_phone(value: str | None) -> str:
    """A phone number with its middle hidden: 13812341234 -> 138****1234, 021-58881234 -> 021-****1234."""
    digits = _digits(value or "")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) >= 10 and digits.startswith("0"):
        area = digits[:3] if digits[1] in "12" else digits[:4]
        return f"{area}-****{digits[-4:]}"
    if len(digits) >= 7:
        return f"****{digits[-4:]}"
    return "****" if digits else ""


def _mask_id_card(match: re.Match) -> str:
    number = _digits(match.group()) + ("X" if match.group()[-1] in "XxＸｘ" else "")
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}"


def mask_text(text: str | None) -> str:
    """A resident's words with every phone (and ID card) number in them masked."""
    return _replace(text, _mask_id_card, lambda m: mask_phone(m.group()))


def erase_numbers(text: str | None) -> str:
    """A resident's words with every phone and ID card number in them replaced by ****."""
    return _replace(text, lambda _: "****", lambda _: "****")


def _replace(text: str | None, id_card, phone) -> str:
    if not text:
        return ""
    if not _SEVEN_DIGITS.search(text):
        return text
    text = _ID_CARD.sub(id_card, text)
    text = _MOBILE.sub(phone, text)
    return _LANDLINE.sub(phone, text)
