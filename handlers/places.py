"""The place a resident names in a message: a road (路/街) with its lane (弄) and number (号),
a building (号楼/栋/幢), an estate (小区/新村/苑/花园), or the same in English ("Lane 100 Linyi
Road", "Pujian Estate, building 9"). Pure: the report's first message fills its place step with it,
and a correction ("不对,是5号楼不是3号楼") changes the place with it.
"""
from __future__ import annotations

import re

_NUM = r"[0-9０-９]+|[一二两三四五六七八九十百零〇]+"
# a name: 2-5 Han characters that are not words around a place ("在", "我们", "的", "门口")
_NAME = (r"[^\W\d_a-zA-Z的了在是我你他她们这那个里有人家楼下上门口边旁小区到从和与"
         r"跟就都也还很太把被给对向往为天晚每说要想什么哪谁咱阿拉隔壁附近整该某各一]{2,5}")
# a road named alone: stricter, as "看不见路", "走路", "马路" end in 路 too
_ROAD_NAME = _NAME.replace("]{2,5}", "看见不走过出进马条段些公铁水小大没难好]{2,4}")
_ESTATE = r"(?<!健身)(?:小区|新村|公寓|花园|苑|家园|大楼)"
_UNIT = rf"(?:(?:{_NUM})\s*(?:号楼|号|栋|幢|座|单元|弄|支弄|室|楼|层)|[东南西北]门|门口|旁边|对面|后面|底楼)"
_ZH = re.compile(
    rf"(?:{_NAME}(?:路|街|大道)\s*(?:{_NUM})\s*(?:弄|号)(?:\s*{_UNIT})*"  # 临沂路100弄3号楼, 南泉路568号
    rf"|{_NAME}{_ESTATE}(?:\s*{_UNIT})*"  # 塘东小区12号楼, 金浦小区南门
    rf"|{_ROAD_NAME}(?:路|街|大道)(?!灯|面|口的灯)(?:\s*{_UNIT})*)"  # 东方路 (a road alone)
)
_EN = re.compile(
    r"(?:(?:lane|no\.?|number|building|bldg|block|#)\s*\d+[,\s]*)*"
    r"(?:[A-Z][a-z]+\s+){1,3}(?:Road|Rd|Street|St|Avenue|Ave|Estate|Garden|Gardens|Village|Community|Compound|Residence)\b"
    r"(?:,?\s*(?:lane|no\.?|number|building|bldg|block|#)\s*\d+)*",
    re.IGNORECASE)
_EN_NAME = re.compile(r"[A-Z][a-z]+\s+(?:Road|Rd|Street|St|Avenue|Ave|Estate|Garden|Gardens|Village|Community|Compound|Residence)")
_EN_UNIT = re.compile(r"\b(building|bldg|block|lane|no\.|number|room|unit)\s*(\d+)", re.IGNORECASE)
_EN_KIND = re.compile(r"\b(building|bldg|block|lane|room|unit)\b", re.IGNORECASE)
# an English place written in lower case ("on dongfang road", "tangdong estate"): one word before
# the road or estate, not a word that only points ("the road", "our estate")
_EN_LOWER = re.compile(r"\b(?!(?:the|a|an|our|my|this|that|your|their|main|big|busy|same|whole|old|new|side|ring|housing"
                       r"|residential|on|in|at|of|by|near|to)\b)[a-z]{3,}\s+(?:road|rd|street|avenue|estate|garden|gardens"
                       r"|village|compound)\b(?:,?\s*(?:lane|no\.?|number|building|bldg|block|#)\s*\d+)*", re.IGNORECASE)
# a lane, building or number named alone ("outside lane 91", "next to building 5")
_EN_UNITS = re.compile(r"\b(?:lane|building|bldg|block|no\.)\s*\d+(?:[,\s]+(?:lane|building|bldg|block|no\.|number|room|unit)\s*\d+)*",
                       re.IGNORECASE)
_BUILDING = re.compile(rf"({_NUM})\s*(号楼|号|栋|幢|座|单元|弄|室|楼|层)")


def find(text: str) -> str | None:
    """The place named in `text`, or None."""
    found = _ZH.search(text)
    if found is not None:
        return found.group(0).strip()
    for found in _EN.finditer(text):
        if _EN_NAME.search(found.group(0)):  # a capitalised name before Road/Estate...
            return found.group(0).strip(" ,")
    return None


def in_report(text: str) -> str | None:
    """The place a report's first message names: as `find`, and in English also a road or estate
    written in lower case, or a lane or building number alone ("There's a pothole outside lane 91")."""
    if (found := find(text)) is not None:
        return found
    if (found := _EN_LOWER.search(text)) is not None:
        return found.group(0).strip(" ,")
    found = _EN_UNITS.search(text)
    return found.group(0).strip(" ,") if found is not None else None


def looks_like_place(text: str) -> bool:
    """A place, or a number of a building, lane or room ("5号楼")."""
    return (find(text) is not None or _BUILDING.search(text) is not None or _EN_UNIT.search(text) is not None
            or (_EN_KIND.search(text) is not None and re.search(r"\d", text) is not None))


# what a correction says before the place itself: "不对,是9号楼", "地点改成塘桥新村15号楼", "sorry, it's ..."
_LEAD = re.compile(r"^\s*(?:(?:不对|错了|搞错了|说错了|写错了|更正一下|更正|等等|等一下|sorry|actually)[,，、:：!！.\s]*)*"
                   r"(?:(?:地点|地址|位置|地方)\s*)?(?:要改成|改成|改为|换成|应该是|是|it'?s|it is)?[:：\s]*", re.IGNORECASE)


def without_lead(text: str) -> str:
    """The place a correction names, without its "不对,是" / "改成" in front (the whole text if that is all)."""
    return _LEAD.sub("", text, count=1).strip() or text.strip()


def corrected(place: str, correction: str) -> str | None:
    """The place after "不对,是5号楼不是3号楼" / "不是3号楼,是5号楼" / "改成5号楼": the wrong part
    replaced by the right one; a whole new place when the correction names one; None when it
    says no place."""
    said = re.search(r"是\s*([^,，。不]+?)\s*[,，]?\s*不是\s*([^,，。]+)", correction)
    if said:
        right, wrong = said.group(1), said.group(2)
    elif said := re.search(r"不是\s*([^,，。]+?)\s*[,，]?\s*(?:而)?是\s*([^,，。]+)", correction):
        wrong, right = said.group(1), said.group(2)
    else:
        right, wrong = None, None
    if right and wrong and wrong.strip() in place:
        return place.replace(wrong.strip(), right.strip(), 1)
    stripped = without_lead(correction)
    new = find(stripped)
    if new:  # the whole place it names ("浦东南路东方路路口"), not only the road the pattern found
        return stripped if stripped.startswith(new) and len(stripped) <= 60 else new
    english = _EN_UNIT.search(correction)
    if english is None and (word := _EN_KIND.search(correction)) and (digits := re.search(r"\d+", correction)):
        english = (word.group(1), digits.group(0))  # "wrong building, it's 14"
    elif english is not None:
        english = (english.group(1), english.group(2))
    if english:  # "sorry, it's building 5 not 3"
        kind, number = english
        same = re.search(rf"\b{re.escape(kind)}\s*\d+", place, re.IGNORECASE)
        if same:
            return place[:same.start()] + f"{kind} {number}" + place[same.end():]
        return f"{place}, {kind} {number}" if place else f"{kind} {number}"
    unit = _BUILDING.search(right or correction)
    if unit:  # "是5号楼": the number of the same kind in the place is the one to change
        kind = unit.group(2)
        same = re.search(rf"({_NUM})\s*{re.escape(kind)}", place)
        if same:
            return place[:same.start()] + unit.group(0) + place[same.end():]
        return f"{place}{unit.group(0)}" if place else unit.group(0)
    return None
