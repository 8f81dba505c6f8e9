"""The office's rules (handlers/rules/), tested as plain Python: no database, no bot."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from db.clock import SHANGHAI
from handlers.rules import lifecycle
from handlers.rules.deadlines import chase_stages, is_late, limits
from handlers.rules.duplicates import Report, can_have_duplicate
from handlers.rules.lifecycle import ENDED, OPEN, STAFF_MOVES, TRANSITIONS, Status, TransitionError, can_move, move
from handlers.rules.places import area_of, house_numbers, plain_place
from handlers.rules.quiet_hours import quiet_until
from handlers.rules.workdays import Calendar

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


@dataclass
class Ticket:
    status: str = "new"
    number: str = "TQ-2612-0001"
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    rating: int | None = None
    rating_comment: str | None = None
    response_due: datetime = NOW + timedelta(days=1)
    resolution_due: datetime = NOW + timedelta(days=5)


ALLOWED = {
    ("new", "acknowledged"), ("new", "in_progress"), ("new", "resolved"), ("new", "rejected"), ("new", "duplicate"),
    ("acknowledged", "in_progress"), ("acknowledged", "resolved"), ("acknowledged", "rejected"),
    ("acknowledged", "duplicate"), ("in_progress", "resolved"), ("in_progress", "rejected"), ("in_progress", "duplicate"),
    ("resolved", "closed"), ("resolved", "in_progress"),
    ("closed", "in_progress"), ("rejected", "in_progress"), ("duplicate", "in_progress"),
}


@pytest.mark.parametrize(("before", "to"), list(itertools.product(Status, Status)))
def test_every_move_of_the_life_cycle_is_allowed_or_refused_as_written(before, to):
    """The table above is the life cycle as the README tells it; every pair is walked."""
    ticket = Ticket(status=before)
    if (before, to) in ALLOWED:
        assert move(ticket, to, NOW, by_staff=True) == before and ticket.status == to
    else:
        with pytest.raises(TransitionError, match=f"{before} -> {to}"):
            move(ticket, to, NOW, by_staff=True)
        assert ticket == Ticket(status=before)  # a refused move changes nothing


def test_the_status_sets_cover_the_life_cycle_once():
    assert set(TRANSITIONS) == set(Status)
    assert set(OPEN).isdisjoint(ENDED) and set(OPEN) | set(ENDED) | {"resolved"} == set(Status)
    assert all(can_move(s, "in_progress") for s in ENDED)  # anything ended may be reopened
    assert lifecycle.staff_choices("new") == list(STAFF_MOVES) and lifecycle.staff_choices("closed") == ["in_progress"]
    assert "closed" not in STAFF_MOVES and "duplicate" not in STAFF_MOVES  # a rating closes, a merge duplicates


def test_a_move_stamps_the_times_it_means():
    ticket = Ticket()
    move(ticket, "acknowledged", NOW, by_staff=True)
    assert ticket.first_response_at == NOW and ticket.resolved_at is None
    later = NOW + timedelta(hours=5)
    move(ticket, "resolved", later, by_staff=True)
    assert ticket.first_response_at == NOW and ticket.resolved_at == later and ticket.closed_at is None
    ticket.rating, ticket.rating_comment = 2, "还是很吵"
    move(ticket, "closed", later, by_staff=False)
    assert ticket.closed_at == later
    move(ticket, "in_progress", later, by_staff=False)  # reopened: as if never resolved or rated
    assert (ticket.resolved_at, ticket.closed_at, ticket.rating, ticket.rating_comment) == (None, None, None, None)


def test_only_staff_give_the_first_response():
    ticket = Ticket()
    move(ticket, "rejected", NOW, by_staff=False)  # the system's move is no response
    assert ticket.first_response_at is None and ticket.closed_at == NOW


def test_an_unmerged_duplicate_goes_back_to_where_it_was():
    ticket = Ticket(status="duplicate", closed_at=NOW)
    assert lifecycle.unmerge(ticket, "acknowledged") == "acknowledged" and ticket.closed_at is None
    assert lifecycle.unmerge(Ticket(status="duplicate"), None) == "in_progress"
    with pytest.raises(TransitionError):
        lifecycle.unmerge(Ticket(status="new"), "new")


def test_a_ticket_is_late_past_a_limit_while_open():
    assert not is_late(Ticket(), NOW)
    assert is_late(Ticket(), NOW + timedelta(days=2))  # no first response in a day
    assert not is_late(Ticket(first_response_at=NOW), NOW + timedelta(days=2))
    assert is_late(Ticket(first_response_at=NOW), NOW + timedelta(days=6))  # not resolved in five
    assert not is_late(Ticket(status="resolved"), NOW + timedelta(days=6))
    naive = Ticket(response_due=(NOW - timedelta(hours=1)).replace(tzinfo=None))  # as SQLite gives it back
    assert is_late(naive, NOW)


def test_a_resolved_ticket_is_rated_within_the_window_and_a_low_rating_reopens_it():
    resolved = Ticket(status="resolved", resolved_at=NOW)
    assert lifecycle.may_rate(resolved, NOW + timedelta(days=7), reopen_days=7)
    assert not lifecycle.may_rate(resolved, NOW + timedelta(days=7, seconds=1), reopen_days=7)
    assert not lifecycle.may_rate(Ticket(status="closed", resolved_at=NOW), NOW, reopen_days=7)
    assert [lifecycle.after_rating(score) for score in range(1, 6)] == ["in_progress"] * 2 + ["closed"] * 3
    assert all(can_move("resolved", lifecycle.after_rating(score)) for score in range(1, 6))


def test_limits_count_working_days_and_chases_come_before_and_after_each():
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=SHANGHAI)  # an ordinary Friday
    due = limits(Calendar(), friday, response_days=1, resolution_days=5)
    assert due == {"response_due": datetime(2026, 12, 7, 15, 0, tzinfo=SHANGHAI),  # Monday: the weekend is not counted
                   "resolution_due": datetime(2026, 12, 11, 15, 0, tzinfo=SHANGHAI)}
    ticket = Ticket(**due)
    monday = datetime(2026, 12, 7, tzinfo=SHANGHAI)
    assert chase_stages(ticket, monday + timedelta(hours=12, minutes=59)) == []
    assert chase_stages(ticket, monday + timedelta(hours=13)) == ["response_soon"]  # two hours before
    assert chase_stages(ticket, monday + timedelta(hours=15)) == ["response_late"]
    ticket.first_response_at = monday
    assert chase_stages(ticket, monday + timedelta(hours=15)) == []  # answered: only the resolution's limit is left
    assert chase_stages(ticket, monday + timedelta(days=4, hours=14)) == ["resolution_soon"]
    assert chase_stages(ticket, monday + timedelta(days=5)) == ["resolution_late"]


def test_house_numbers_are_read_however_written():
    assert house_numbers("峨山路91弄5号楼") == house_numbers("峨山路九十一弄五号楼") == [(5, "号"), (91, "弄")]
    assert house_numbers("峨山路91弄5栋302室") == [(5, "号"), (91, "弄"), (302, "室")]
    assert plain_place("峨山路九十一弄五号楼") == "峨山路91弄5号"
    assert house_numbers("峨山路９１弄") == [(91, "弄")]  # full-width digits


def test_the_area_is_the_lane_else_the_estate_else_the_road():
    assert area_of("上海市浦东新区峨山路九十一弄五号楼") == "峨山路91弄"
    assert area_of("金浦小区12号楼门口") == "金浦小区"
    assert area_of("东方路1000号") == "东方路"
    assert area_of("浦东南路1111弄2号") == "浦东南路1111弄"  # 浦东 alone is not the district
    assert area_of("") == ""


def test_a_likely_duplicate_has_the_same_numbers_and_a_like_place_and_text():
    lamp = "楼道里的路灯坏了一个星期了,晚上黑漆漆的"
    report = Report("峨山路91弄5号楼", lamp)
    assert report.same_problem("峨山路九十一弄五号楼", "楼道路灯坏了一个星期")
    assert not report.same_problem("峨山路91弄3号楼", lamp)  # another building, however alike
    assert not report.same_problem("峨山路91弄5号楼", "楼下烧烤店油烟太大")  # another problem
    assert not can_have_duplicate("  ") and can_have_duplicate("峨山路91弄")


def test_quiet_hours_end_at_eight_in_the_morning_shanghai_time():
    def at(hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 12, 4, hour, minute, tzinfo=SHANGHAI)

    assert quiet_until(at(20, 59)) is None and quiet_until(at(8, 0)) is None
    assert quiet_until(at(21, 0)) == datetime(2026, 12, 5, 8, 0, tzinfo=SHANGHAI)
    assert quiet_until(at(7, 59)) == datetime(2026, 12, 4, 8, 0, tzinfo=SHANGHAI)
    assert quiet_until(at(23, 0).astimezone(UTC)) == datetime(2026, 12, 5, 8, 0, tzinfo=SHANGHAI)  # any zone in
