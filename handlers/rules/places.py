"""Addresses as residents write them: their house and building numbers, the same address
written alike, and the area (lane, estate, road) a ticket is filed under."""
from __future__ import annotations

import re
import unicodedata

# A number and what it numbers in an address: 91弄, 5号楼, 302室. Two places whose numbers
# differ are different places however alike the rest (峨山路91弄5号楼 / 3号楼 score 88.9).
_HOUSE_NUMBER = re.compile(r"([0-9]+|[零〇一二两三四五六七八九十百]+)\s*(号楼|号院|支弄|号|弄|室|栋|幢|座|单元|楼|层|户)")
_SAME_UNIT = {"号楼": "号", "栋": "号", "幢": "号", "座": "号", "层": "楼", "户": "室"}  # in a 弄, 3号 is 3号楼
_CHINESE_DIGITS = {c: n for n, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}


def _number(value: str) -> int:
    """91, 九十一, 二十 -> an int (Chinese numerals as addresses write them, up to 999)."""
    if value.isdigit():
        return int(value)
    total, digit = 0, None
    for char in value:
        if char in ("十", "百"):
            total += (1 if digit is None else digit) * (10 if char == "十" else 100)
            digit = None
        else:
            digit = _CHINESE_DIGITS[char] if digit is None else digit * 10 + _CHINESE_DIGITS[char]
    return total + (digit or 0)


def house_numbers(place: str) -> list[tuple[int, str]]:
    """The numbered parts of an address, sorted: 峨山路91弄5号楼 -> [(5, '号'), (91, '弄')]."""
    found = _HOUSE_NUMBER.findall(unicodedata.normalize("NFKC", place))
    return sorted((_number(number), _SAME_UNIT.get(unit, unit)) for number, unit in found)


def plain_place(place: str) -> str:
    """The address with its numbers written alike: 峨山路九十一弄五号楼 -> 峨山路91弄5号."""
    return _HOUSE_NUMBER.sub(lambda m: f"{_number(m[1])}{_SAME_UNIT.get(m[2], m[2])}", unicodedata.normalize("NFKC", place))


_CITY = re.compile(r"^(上海市?)?(浦东新区)?(塘桥街道)?")  # not 浦东 alone: 浦东南路 is a road
_LANE = re.compile(r"^(\D{1,5}?[路街])(\d+)弄")  # a road's name is short: not 靠近地铁站的路
_ESTATE = re.compile(r"^(.*(小区|新村|公寓|花园|苑|大厦|广场|村|园|坊|里|城))")
_ROAD = re.compile(r"^(\D{1,5}?[路街])")
AREA_LENGTH = 64


def area_of(place: str) -> str:
    """Where in the subdistrict a ticket is, for the queue's place filter: the lane (road and lane
    number: 峨山路九十一弄五号楼 -> 峨山路91弄, a lane being one estate), else the estate named
    before the first number (金浦小区3号楼 -> 金浦小区), else the road (东方路1000号 -> 东方路), else
    the words before the first number; city, district and subdistrict prefixes dropped, numbers
    written alike. "" when the place names none of these (a location alone)."""
    plain = _CITY.sub("", re.sub(r"\s+", "", plain_place(place)))
    head = re.split(r"\d", plain, maxsplit=1)[0]
    found = _LANE.match(plain) or _ESTATE.match(head) or _ROAD.match(head)
    area = found.group(0) if found else head
    return area[:AREA_LENGTH] if len(area) >= 2 else ""
