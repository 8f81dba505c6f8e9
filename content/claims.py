"""What an answer claims must be in its own quotes: the part of `content check` that catches
a false edit (a wrong count, a wrong year, an invented address, phone, opening hours or "free").

- Figures. Every number of the Chinese answer (digits, years, 一…万/两/半 before a measure word)
  must be a number of the entry's own quotes, with the same measure word where the quote has one
  (64个 matches 诉求64, 2731张 does not match 2731本); a number said under a year ("2024年…
  举办6场") must come from a quote in that year's part of the report (the review of 2024 or the
  plans for 2025). The English answer carries the Chinese answer's figures, and no figure that
  neither the Chinese answer nor the quotes have (digits, number words, ordinals, millions).
- Claims of price (免费, 不收费, free), time (每天, 24小时, 上半年/下半年, 周末, daily, weekends),
  place (a road 路, a number with 号/弄/楼) and procedure (须, 必须, 由…推荐, 可以申请, must,
  apply) must be words of the quotes, or sit in a clause that says it is not from the report:
  one that names what the report does not say (报告没有写明…, 报告未说明, The report does not
  say…) or carries NOT_FROM_REPORT, the mark of general knowledge the report does not give.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Numbers a reply may give without the report: the citizens' hotline and the national lines.
ALLOWED_NUMBERS = frozenset({"110", "119", "120", "96110", "12345", "12356", "962525"})
# The mark of a sentence that is general knowledge, not the report's (a definition it lacks).
NOT_FROM_REPORT = {"zh": "（常识，非报告内容）", "en": "(general knowledge, not from the report)"}
REVIEW_HEAD, PLAN_HEAD = "2024年工作回顾", "2025年工作思路"  # the report's two parts

_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG = {"万": 10_000, "亿": 100_000_000}
# A measure word or unit after a number: what the number counts.
_MEASURE = "个名人位场次期家处台本张件起条份栋户年月日号弄楼层岁元所座支队届项部辆间天周倍%批轮套类种级期"
_SAME_MEASURE = {"名": "人", "位": "人"}  # 544名 = 544人
_ZH_NUMBER = re.compile(rf"(\d+(?:\.\d+)?|[零一二两三四五六七八九十百千万半]+)([余多]?)([万亿]?)([余多]?)([{_MEASURE}]?)")
# Words with a numeral that count nothing (一起 is "together", not one case).
_NOT_COUNTS = ("一起", "一下", "一些", "一点", "一样", "一般", "一直", "一定", "一步", "一体", "一致", "统一", "之一",
               "万一", "一旦", "一律", "一并", "一回事", "一把", "一次性", "一件事", "一张图", "一楼一表", "一企一策",
               "一年四季", "一口", "下一", "一人一档", "单一", "唯一", "一家人", "一个人")
_ZH_YEAR = re.compile(r"(20\d\d)年")
_EN_YEAR = re.compile(r"\b(20[0-3]\d)\b")
_EN_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(\s*(?:million|thousand|billion))?(%)?"
                        r"|(?<!\bno )(?<!\bany )\b(a|one(?! of\b)|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                        r"fifteen|twenty|thirty|forty|"
                        r"fifty|hundred|thousand)\b(?:[\s-]+(hundred|thousand|million))?", re.IGNORECASE)
_EN_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b|\b(third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)\b", re.IGNORECASE)
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_EN_MONTH = re.compile(r"\b(?:January|February|March|April|June|July|August|September|October|November|December)\b")
_EN_WORDS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
             "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
             "hundred": 100, "thousand": 1000, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10}
_EN_SCALE = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}

# Claims: (kind, pattern in the answer, pattern a quote must contain to support it).
_ZH_CLAIMS = (
    ("price", r"免费|不收费|无偿|不要钱|不花钱|收费|付费|自费|低偿|有偿|半价|打折", None),
    ("time", r"每天|每日|天天|全天|24小时|二十四小时|上半年|下半年|周末|工作日|节假日|每周|每月|"
             r"周[一二三四五六日]|星期[一二三四五六日天]|上午|下午|晚上|夜间|凌晨|年底|年初|年中|年末|月底|月初", None),
    ("place", r"\d+[号弄楼层室]|[一二三四五六七八九十]+[号弄楼层室]|地址[是为在：:]", None),
    ("procedure", r"由[\u4e00-\u9fa5]{1,8}推荐", r"由[\u4e00-\u9fa5]{1,8}推荐"),
    ("procedure", r"必须|务必|须(?=[要经凭持提由到带先])|只能|才能|才可以|可以申请|可申请|可以领|可领取|凭", None),
    ("procedure", r"预约|身份证|户口本|户口簿|证明材料|网上报名|线上报名|网上申请|扫码", None),
    ("eligibility", r"户籍|本市户口|常住人口|年满|周岁", None),
)
_EN_CLAIMS = (
    ("price", r"(?<![-\w])free\b(?![-\w])|free of charge|\bno (?:fees?|charges?)\b|costs? nothing|at no cost|half[- ]price|"
              r"\bwithout charge|(?:does not|doesn't) cost|(?:do not|don't|does not|doesn't) (?:need|have) to pay",
     r"免费|不收费|无偿"),
    ("time", r"\bdaily\b(?! life)|every day|round the clock|24 hours|24/7", r"每天|每日|全天|24小时"),
    ("time", r"\bweekends?\b", r"周末"),
    ("time", r"first half", r"上半年"),
    ("time", r"second half", r"下半年"),
    ("time", r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)days?\b", r"周[一二三四五六日]|星期"),
    ("time", r"\b\d{1,2}(?::\d\d)?\s*(?:am|pm|a\.m\.|p\.m\.)", r"(?!)"),
    ("time", r"\bend of (?:the year|20\d\d)|\b(?:early|late|mid-?)\s*20\d\d|\byear-end", r"年底|年末|年初|年中"),
    ("place", r"\b(?:No\.|Room|Floor|Lane)\s*\d+", None),
    ("procedure", r"recommended by|recommendation of|through [\w' -]{0,30}recommendation|on the recommendation",
     r"由[\u4e00-\u9fa5]{1,8}推荐"),
    ("procedure", r"\bmust\b|\bhave to\b|\bhas to\b|\brequired to\b|\bonly if\b", r"须|必须|务必"),
    ("procedure", r"\b(?:can|may) apply\b|\bapplies for\b|\bapply (?:for|through|to|at)\b", r"申请"),
    ("procedure", r"\bappointment\b|\bbook (?:in advance|ahead)|\bID card\b|\bproof of\b|\bhousehold register|\bscan (?:the|a) QR",
     r"预约|身份证|户口|证明"),
    ("eligibility", r"\bregistered residents?\b|\blocal hukou\b|\baged \d+ (?:and|or) (?:over|above)|\bor older\b",
     r"户籍|户口|年满|周岁|以上"),
)
_ZH_NEGATION = re.compile(r"报告没有|报告未|报告并未|报告也没有|报告只|报告说不了|没有写明|没有写|没有说|未说明|没有列出|"
                          r"没有解释|没有给出|不清楚")
_EN_NEGATION = re.compile(r"\b(?:(?:does not|do not|doesn't|did not) (?:say|give|list|explain|mention|state|define|link|show|"
                          r"spell)|gives no|has no|cannot say|nor|unclear|not from the report|not the report's|no unit)\b",
                          re.IGNORECASE)
_ZH_CLAUSE = re.compile(r"[^，。；！？：\n]+")
_ZH_SENTENCE = re.compile(r"[^。！？\n]+")
_EN_SENTENCE = re.compile(r"(?:[^.;:!?\n]|\.(?=\d)|(?<=No)\.|(?<=[ap]\.m)\.)+")
_EN_ROAD = re.compile(r"\b((?!The\b|On\b|At\b|In\b)[A-Z][a-z]+(?: [A-Z][a-z]+)?) (?:Road|Rd|Street|Avenue)\b")
_COMPASS = {"南": "south", "北": "north", "东": "east", "西": "west", "中": "middle"}
_ROAD_WORDS = ("马路", "道路", "线路", "思路", "走路", "出路", "一路", "网路", "门路", "铁路", "公路", "套路", "路段", "路口")


def _cn_value(text: str) -> Decimal | None:
    """一千四百九十六 -> 1496, 两 -> 2, 十五 -> 15, 半 -> 0.5; None when it is not a number."""
    if text == "半":
        return Decimal("0.5")
    if "半" in text:
        return None
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            section += (1 if digit is None else digit) * _CN_UNITS[ch]
            digit = None
        elif ch in _CN_BIG:
            total += (section + (digit or 0)) * _CN_BIG[ch]
            section, digit = 0, None
    return Decimal(total + section + (digit or 0))


def zh_numbers(text: str) -> list[tuple[Decimal, str, int, str]]:
    """(value, measure word, position, as written) of each number in Chinese text; 283余万 -> 2830000."""
    out = []
    for m in _ZH_NUMBER.finditer(text):
        written, big, measure = m.group(1), m.group(3), m.group(5)
        if not written[0].isdigit():
            if any(w in text[max(0, m.start() - 3):m.end() + 3] and _overlaps(text, w, m) for w in _NOT_COUNTS):
                continue
            if written in ("万", "亿") or (measure == "" and not big):
                continue  # a numeral before no measure word (一站式, 两单一图) counts nothing
        value = Decimal(written) if written[0].isdigit() else _cn_value(written)
        if value is None:
            continue
        value *= _CN_BIG.get(big, 1)
        out.append((value.normalize(), _SAME_MEASURE.get(measure, measure), m.start(), written))
    return out


def _overlaps(text: str, word: str, m: re.Match) -> bool:
    return any(s <= m.start() < s + len(word) or m.start() <= s < m.end()
               for s in (i.start() for i in re.finditer(re.escape(word), text)))


def all_values(text: str) -> set[Decimal]:
    """Every number a text states, Chinese numerals anywhere included (for the English's figures)."""
    values = {v for v, *_ in zh_numbers(text)}
    for m in re.finditer(r"[零一二两三四五六七八九十百千]+", text):
        if (v := _cn_value(m.group(0))) is not None:
            values.add(v.normalize())
    return values


def en_numbers(text: str) -> list[tuple[Decimal, int, str]]:
    """(value, position, as written) of each figure in English text: 2,731; 27.3411 million; a thousand; 4th."""
    out = []
    for m in _EN_NUMBER.finditer(text):
        if m.group(1):
            value = Decimal(m.group(1).replace(",", ""))
            scale = (m.group(2) or "").strip().lower()
        else:
            word, scale = m.group(4).lower(), (m.group(5) or "").lower()
            if word == "a" and not scale:
                continue
            value = Decimal(_EN_WORDS[word])
        value *= _EN_SCALE.get(scale, 1)
        out.append((value.normalize(), m.start(), m.group(0).strip()))
    for m in _EN_MONTH.finditer(text):
        out.append((Decimal(_MONTHS.index(m.group(0).lower()[:3]) + 1), m.start(), m.group(0)))
    for m in _EN_ORDINAL.finditer(text):
        out.append((Decimal(m.group(1) or _EN_WORDS[m.group(2).lower()]), m.start(), m.group(0)))
    return sorted(out, key=lambda t: t[1])


def _sections(report: str) -> list[tuple[int, str]]:
    """(start, year) of each part: the head (publication date) is "", then 2024 and 2025."""
    review, plan = report.find(REVIEW_HEAD), report.find(PLAN_HEAD)
    return [(0, ""), (review if review >= 0 else len(report), "2024"), (plan if plan >= 0 else len(report), "2025")]


def quote_years(quote: str, report: str) -> set[str]:
    """The parts of the report (2024's review, 2025's plans, "" for the head) a quote is found in."""
    sections, years, at = _sections(report), set(), report.find(quote)
    while at >= 0:
        years.add(max((s for s in sections if s[0] <= at), key=lambda s: s[0])[1])
        at = report.find(quote, at + 1)
    return years


def _clause_at(text: str, at: int) -> str:
    return next((m.group(0) for m in _ZH_CLAUSE.finditer(text) if m.start() <= at < m.end()), "")


def _dec(text: str) -> Decimal:
    try:
        return Decimal(text).normalize()
    except InvalidOperation:
        return Decimal(-1)


def figure_problems(zh: str, en: str, quotes: list[str], report: str) -> list[str]:
    """Figures of both answers that the quotes do not give, or give in another role or year."""
    problems = []
    quoted = [(v, measure) for q in quotes for v, measure, *_ in zh_numbers(q)]
    quoted_values = {v for v, _ in quoted} | {v for q in quotes for v in all_values(q)}
    by_year: dict[str, set[Decimal]] = {}
    for q in quotes:
        for year in quote_years(q, report):
            by_year.setdefault(year, set()).update(all_values(q))
    allowed = {_dec(n) for n in ALLOWED_NUMBERS}
    years_supported = {y for y in by_year if y} | {m.group(0) for q in quotes for m in re.finditer(r"20\d\d", q)}

    for sentence in _ZH_SENTENCE.findall(zh):
        year = ""
        for value, measure, at, written in zh_numbers(sentence):
            if written.isdigit() and len(written) == 4 and sentence[at + 4:at + 5] == "年":
                year = written
                if written not in years_supported and not _ZH_NEGATION.search(_clause_at(sentence, at)):
                    problems.append(f"answer states the year {written}, which none of its quotes is about")
                continue
            if value in allowed:
                continue
            if value not in quoted_values:
                problems.append(f"answer states {written + measure!r}, which none of its source quotes contains")
            elif (measure and measure != "个" and any(v == value for v, _ in quoted)
                  and not any(v == value and m in ("", "个", measure) for v, m in quoted)):
                roles = sorted({m for v, m in quoted if v == value})
                problems.append(f"answer states {written + measure!r}, but its quotes give {written} with {'/'.join(roles)}")
            elif year and written[0].isdigit() and value not in by_year.get(year, set()) | by_year.get("", set()):
                problems.append(f"answer states {written + measure!r} under {year}, but its quote is not from {year}")

    zh_values = all_values(zh)
    en_values = {v for v, *_ in en_numbers(en)}
    for value, _, _, written in zh_numbers(zh):
        if written[0].isdigit() and value not in allowed and value not in en_values:
            problems.append(f"English answer does not carry the figure {written!r} of the Chinese answer")
    for sentence in _EN_SENTENCE.findall(en):
        year = ""
        for value, _, written in en_numbers(sentence):
            if _EN_YEAR.fullmatch(written):
                year = written
                if written not in years_supported and not _EN_NEGATION.search(sentence):
                    problems.append(f"English answer states the year {written}, which none of its quotes is about")
                continue
            if value in allowed:
                continue
            if value not in zh_values and value not in quoted_values:
                problems.append(f"English answer states {written!r}, which neither the Chinese answer nor its quotes give")
            elif year and written[0].isdigit() and value not in by_year.get(year, set()) | by_year.get("", set()):
                problems.append(f"English answer states {written!r} under {year}, but its quote is not from {year}")
    return problems


def claim_problems(zh: str, en: str, quotes: list[str]) -> list[str]:
    """Claims of price, time, place and procedure that no quote supports and no clause disowns."""
    problems, quoted = [], " ".join(quotes)
    for clause in _ZH_CLAUSE.findall(zh.replace(NOT_FROM_REPORT["zh"], "报告未说明")):
        if _ZH_NEGATION.search(clause):
            continue
        for kind, pattern, support in _ZH_CLAIMS:
            for m in re.finditer(pattern, clause):
                if not re.search(support or re.escape(m.group(0)), quoted):
                    problems.append(f"answer claims {m.group(0)!r} ({kind}), which none of its quotes says")
        for m in re.finditer("路", clause):
            road = clause[max(0, m.start() - 2):m.end()]
            if clause[max(0, m.start() - 1):m.end() + 1][:2] in _ROAD_WORDS or clause[m.start():m.end() + 1] in _ROAD_WORDS:
                continue
            if road not in quoted:
                problems.append(f"answer names the road {road!r} (place), which none of its quotes names")
    for sentence in _EN_SENTENCE.findall(en.replace(NOT_FROM_REPORT["en"], "not from the report")):
        if _EN_NEGATION.search(sentence):
            continue
        for kind, pattern, support in _EN_CLAIMS:
            for m in re.finditer(pattern, sentence, re.IGNORECASE):
                if support is None:  # the number of an address must be a number of the quotes
                    number = re.sub(r"\D", "", m.group(0))
                    supported = re.search(rf"(?<!\d){number}(?!\d)", quoted) is not None
                else:
                    supported = re.search(support, quoted) is not None
                if not supported:
                    problems.append(f"English answer claims {m.group(0)!r} ({kind}), which none of its quotes supports")
        for m in _EN_ROAD.finditer(sentence):
            if m.group(1).lower().replace(" ", "") not in _roads_in_pinyin(quoted):
                problems.append(f"English answer names {m.group(0)!r} (place), which none of its quotes names")
    return problems


def _roads_in_pinyin(quoted: str) -> set[str]:
    """The roads the quotes name, in pinyin with English compass words (浦东南路 -> pudongsouth)."""
    from pypinyin import lazy_pinyin  # the check only: the bot never names a road itself

    roads = set()
    for m in re.finditer(r"([\u4e00-\u9fa5]{2,3})路", quoted):
        for start in range(len(m.group(1)) - 1):
            name = m.group(1)[start:]
            roads.add("".join(lazy_pinyin(name)))
            if name[-1] in _COMPASS:
                roads.add("".join(lazy_pinyin(name[:-1])) + _COMPASS[name[-1]])
    return roads
