"""A follow-up that only makes sense with the answer before it: "那在哪里办?", "要带什么?", "周末开吗",
"what about people over 80?", "how much is it?".

Such a message is short, asks about a side of something (where, when, what to bring, the cost,
who may, an age) or opens as a follow-up does (那, 那么, 还有, what about, and), and names no
entry of its own. The model (content/model.py) answers it on the entry the resident was last
answered about, when the router passes that entry; a message that names an entry ("那宝宝屋呢?")
is that entry's question.
"""
from __future__ import annotations

import re

_HAN = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+")
SHORT_HAN, SHORT_WORDS = 12, 8  # a follow-up without an opening word is at most this long
LONG_HAN, LONG_WORDS = 30, 16  # ... with one ("那我妈妈八十五了,能不能送上门?")

# read on the raw text, lower-cased: normalisation drops 呢
_OPENING = re.compile(r"^\s*(?:那|那么|那个|还有|另外|然后|所以|and|so|also|what about|how about|what if|but)(?![a-z])"
                      r"|(?:呢|呐)\s*[?？]?\s*$|^\s*(?:and|what about|how about) ")
_ASPECT = re.compile(
    r"在哪|哪里|哪儿|什么地方|啥地方|地址|几点|什么时候|啥辰光|时间|周末|礼拜|星期|开门|关门|开吗|开不开|要带|带什么|带啥|材料|证件"
    r"|多少钱|几钿|收费|免费|要钱|费用|价格|怎么(?:办|申请|报名|去|弄|领|交)|哪能|电话|条件|要求|资格|年龄|\d+\s*岁|岁以上|岁的|老人呢"
    r"|能不能|可不可以|可以吗|行不行|够不够|有没有|需要|要不要|多久|多长时间|谁可以|谁能|外地|户口|租房的"
    r"|\bwhere\b|\bwhen\b|what time|\bopen\b|\bclose|how much|\bcost|\bfree\b|\bfee|\bprice|\bbring\b|document|\bneed\b"
    r"|\bapply|sign up|\bregister|who can|eligib|\bage\b|over \d+|under \d+|\d+ (?:and|or) (?:over|older|above)|years? old"
    r"|weekend|saturday|sunday|phone|number|address|how long|can i|can we|is it|does it|do i|do they|what about"
    # whether there is one too: "有培训吗", "有补贴伐", "any training?", "is there a discount?"
    r"|^\s*有.{1,8}(?:吗|么|伐)|^\s*(?:any|is there|are there)\b")


def opens_as_follow_up(text: str) -> bool:
    return _OPENING.search(text.lower()) is not None


def follows_up(text: str) -> bool:
    """`text` reads as a follow-up to an answer: short, and asking about a side or opening as one."""
    lowered = text.lower()
    han, words = len(_HAN.findall(lowered)), len(_WORD.findall(lowered))
    if opens_as_follow_up(lowered):
        return han <= LONG_HAN and words <= LONG_WORDS
    return han <= SHORT_HAN and words <= SHORT_WORDS and _ASPECT.search(lowered) is not None
