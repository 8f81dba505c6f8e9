"""When a new report is likely the same problem as an open ticket: same category (the caller
asks only those), the same house and building numbers exactly, places and texts alike. Staff
confirm it; nothing is merged unseen."""
from __future__ import annotations

from rapidfuzz import fuzz

from handlers.rules.places import house_numbers, plain_place

SAME_PLACE = 80  # RapidFuzz token_set_ratio of the places (numbers written alike)
SAME_TEXT = 55  # partial_ratio of the texts


class Report:
    """A report's place and text, read once, compared with many open tickets."""

    def __init__(self, place: str, text: str):
        self.numbers, self.place, self.text = house_numbers(place), plain_place(place), text

    def same_problem(self, other_place: str, other_text: str) -> bool:
        return (house_numbers(other_place) == self.numbers
                and fuzz.token_set_ratio(self.place, plain_place(other_place)) >= SAME_PLACE
                and fuzz.partial_ratio(self.text, other_text) >= SAME_TEXT)


def can_have_duplicate(place: str) -> bool:
    """A report with no written place (a location pin alone) is never taken for another."""
    return bool(place.strip())
