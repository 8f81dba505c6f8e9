"""The polite words around a message, taken off before the model reads it.

Residents, the elderly above all, wrap a question in greetings and thanks: "同志你好,请问社区食堂
在哪里?谢谢啦", "Hi! Thanks, also where can I ...". Read whole, the greeting's words can outweigh
the question and the resident gets "不客气!". `core()` removes the wrappers at either end
(forms of address with a greeting, greetings, 请问/麻烦你/打扰一下, thanks, "one more thing:") and
keeps what is left when something is left: a greeting is a greeting only when nothing else is
said. It works on normalised text (content/normalize.py) and is applied by the model's features,
so training and the running bot read messages the same way.
"""
from __future__ import annotations

import re

_P = r"[\s,，.。!！?？~～、:：;；…]*"  # punctuation between wrappers


def _any(*alternatives: str) -> str:
    return "|".join(alternatives)


_ADDRESS = _any(r"(?:小|老)?同志", "师傅", "阿姨", "叔叔", "大姐", "大哥", "小姑娘", "姑娘", "小伙子", "小妹妹?", "小哥", "领导",
                "工作人员", "老师", "书记", "主任", r"居委会?的?(?:同志|干部)?", r"街道的?(?:同志|干部)?", "小朋友")
_GREETING = _any(r"(?:你|您|你们)好(?:呀|啊|哇)?", "大家好", "哈喽", "嗨", "喂", "早上好", "上午好", "中午好", "下午好", "晚上好",
                 "早安", "新年好", "在吗", "在不在", "有人吗", r"(?:hi|hello|hey|hiya)(?: there| all| everyone)?",
                 r"good (?:morning|afternoon|evening)", r"dear (?:sir|madam|all)", "greetings", "excuse me",
                 r"sorry to (?:bother|trouble) you")
_ASKING = _any(r"请问(?:一下|一声|下)?", r"(?:我)?(?:想|要)?(?:问|请教|咨询|打听)(?:一下|一声|下|问)(?:你|您|你们)?",
               r"打扰(?:一下|了|您了|你了)?", r"麻烦(?:你|您)(?:们)?(?:一下|了)?", r"麻烦问(?:一下|一声|下)?", "劳驾",
               r"不好意思(?:打扰了?)?", r"谢谢(?:你|您)(?:们)?先", "i have a question", "quick question", "please")
_THANKS = _any(r"谢谢(?:你|您|侬)?(?:们)?(?:啦|了|哦|噢|呀|啊)?", r"多谢(?:了|啦)?", r"感谢(?:你|您)?(?:们)?",
               r"辛苦(?:你|您)?(?:们)?(?:了|啦)?", r"麻烦(?:你|您)?(?:们)?了", r"拜托(?:你|您)?(?:们)?了",
               r"thank(?:s| you)(?: (?:so|very) much| a lot| in advance)?", "thx", "ty", "many thanks", "cheers",
               "much appreciated", "appreciate it")
_ACK = rf"(?:好的|好滴|嗯嗯?|明白了|知道了|晓得了|ok(?:ay)?|great|got it|i see)(?=[\s,，.。!！~～]|{_THANKS})"
_MORE = _any(r"还有(?:一个|个|一件|件)?(?:问题|事情?)?", "另外", r"顺便问(?:一下|下)?", r"one more(?: thing| question)?", "also",
             "and also", "by the way", "btw")

# at the start: an address followed by punctuation or a greeting; greetings, asking, "also"; thanks
# followed by punctuation or "also" (else "thank you for fixing it" is the message)
_LEADING = re.compile(rf"^(?:(?:{_ADDRESS})(?:{_P}(?={_GREETING}|{_ASKING})|[\s,，!！:：]+)"
                      rf"|(?:{_GREETING}|{_ASKING}|{_MORE}|{_ACK})(?![a-z]){_P}"
                      rf"|(?:{_THANKS})\s*(?:[,，.。!！~～]+\s*|(?=(?:{_MORE})(?![a-z]))))+")
_TRAILING = re.compile(rf"(?:{_P}(?<![a-z])(?:{_THANKS}|please)(?:{_ADDRESS})?{_P})+$")
_SUBSTANCE = re.compile(r"[\u3400-\u9fff].*[\u3400-\u9fff]|[a-z]{2,}\W+[a-z]{2,}|[a-z]{4,}")
# what is left when nothing else was said: a closing, a fuss about asking, an address alone
_CLOSING = re.compile("(?:(?:" + _any(
    "好的?", "好嘞", "好滴", "嗯+", "收到", "明白了?", "懂了", "知道了", "晓得了", "原来是这样", "再见", "再会", "拜拜", "回头见",
    r"没(?:有)?(?:别的|其他)(?:事情?|问题)了?", "问题解决了", "工作顺利", "身体健康", "万事如意", "一切顺利",
    r"(?:你|您)?帮了?(?:我|我们)?(?:大忙|很大的忙)了?", r"祝(?:你|您).*", "太好了", "很有帮助", "有用", r"(?:真是)?不好意思",
    "打扰了", r"我?(?:想|要)?问(?:个|一个|点)(?:事情?|问题)", r"有(?:个|一个|点)(?:事情?|问题)(?:想问|要问|请教)?", "在吗",
    "有人吗", _ADDRESS, "bye", "goodbye", "see you", r"ok(?:ay)?", "got it", "great", "perfect", "cool", "noted",
    r"have a (?:nice|good|great) (?:day|evening|weekend)",
    r"that(?:'s| is| was) (?:all|it|really helpful|very helpful|helpful|great|perfect)(?: i needed)?",
    r"you(?:'ve| have) been (?:very |really |so )?helpful", r"(?:is )?any ?(?:one|body) (?:there|here)") + r")\s*)+")
_CLAUSE = re.compile(r"[,，.。!！?？~～、:：;；…]+")


def core(text: str) -> str:
    """`text` (normalised) without its polite wrappers, or `text` itself when nothing else is said."""
    inner = _TRAILING.sub("", _LEADING.sub("", text)).strip()
    if inner == text or not _SUBSTANCE.search(inner):
        return text
    if all(_CLOSING.fullmatch(clause.strip()) for clause in _CLAUSE.split(inner) if clause.strip()):
        return text
    return inner
