"""Every written form of a phone or ID-card number is masked for staff and erased by /forgetme
(handlers/masking.py): digits ASCII, full-width or Chinese (幺 and 〇 too), separated by spaces,
dashes, dots, slashes or underscores (ASCII or full-width), inside a resident's words. Hypothesis
writes the numbers; the numbers it must leave alone are checked alongside."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.masking import _digits, erase_numbers, mask_text

ASCII = "0123456789"
FULL_WIDTH = "０１２３４５６７８９"
CHINESE = "零一二三四五六七八九"
SEPARATORS = [" ", "\u3000", "-", "－", ".", "．", "/", "／", "_", "＿", "—", "·"]
WORDS = st.text(alphabet="联系我电话是请打给谢谢路弄号楼楼道灯坏了,。:!?abcXYZ", max_size=12)


def _written(number: str, draw) -> str:
    """`number` as a resident might type it: each digit in a script, separators between some."""
    out = []
    for i, digit in enumerate(number):
        if digit in "Xx":
            out.append(digit)
            continue
        script = draw(st.sampled_from([ASCII, FULL_WIDTH, CHINESE, CHINESE.replace("一", "幺").replace("零", "〇")]))
        out.append(script[int(digit)])
        if i < len(number) - 1:
            out.append(draw(st.sampled_from(["", "", *SEPARATORS])) * draw(st.integers(1, 2)))
    return "".join(out)


@st.composite
def numbers(draw) -> tuple[str, str]:
    kind = draw(st.sampled_from(["mobile", "id18", "id15"]))
    if kind == "mobile":
        number = "1" + draw(st.sampled_from("3456789")) + draw(st.text(ASCII, min_size=9, max_size=9))
    elif kind == "id18":
        number = draw(st.sampled_from("123456789")) + draw(st.text(ASCII, min_size=16, max_size=16)) \
            + draw(st.sampled_from("0123456789X"))
    else:
        number = draw(st.sampled_from("123456789")) + draw(st.text(ASCII, min_size=14, max_size=14))
    return number, draw(WORDS) + _written(number, draw) + draw(WORDS)


@settings(max_examples=400, deadline=None)
@given(numbers())
def test_every_written_form_is_masked_and_erased(found):
    number, text = found
    masked = mask_text(text)
    assert number.rstrip("X") not in _digits(masked), masked
    assert "*" in masked
    erased = erase_numbers(text)
    assert _digits(erased) == "" and "****" in erased, erased  # WORDS hold no digits: nothing of the number is left


def test_the_forms_the_review_found():
    for text in ("139.1234.5678", "138/1234/5678", "138_1234_5678", "１３８．１２３４．５６７８", "一三九一二三四五六七八",
                 "幺三九 幺二三四 五六七八", "310115.19800101.123X", "３１０１１５１９８００１０１１２３ｘ"):
        assert erase_numbers(text) == "****", text
        assert "*" in mask_text(text) and _digits(text) not in _digits(mask_text(text))


def test_dates_ticket_numbers_and_house_numbers_stay():
    for text in ("2026.11.30 上午", "2026-11-30", "TQ-2611-0042", "峨山路九十一弄五号楼302室", "二〇二六年十一月三十日",
                 "3.5元一斤", "第1/2页"):
        assert mask_text(text) == text and erase_numbers(text) == text
