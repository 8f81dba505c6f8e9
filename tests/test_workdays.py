"""Working days from China's official calendar, with the settings' overrides, and office hours."""
from __future__ import annotations

import logging
from datetime import date, datetime, time

import pytest

from bot.settings import SettingsError, load_settings
from bot.startup import working_calendar
from db.clock import SHANGHAI
from handlers.rules.workdays import Calendar


def shanghai(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_the_official_calendar_knows_golden_week_and_the_weekend_days_worked():
    calendar = Calendar()
    assert not calendar.is_workday(date(2026, 10, 1))  # National Day, a Thursday
    assert calendar.is_workday(date(2026, 10, 10))  # a Saturday worked instead (调休)
    # one working day from Wednesday 30 September: the holiday runs to 7 October
    assert calendar.add_working_days(shanghai(2026, 9, 30, 15), 1) == shanghai(2026, 10, 8, 15)


def test_the_settings_override_the_official_calendar():
    calendar = Calendar(holidays=frozenset({date(2026, 12, 7)}), extra_workdays=frozenset({date(2026, 12, 5)}))
    assert not calendar.is_workday(date(2026, 12, 7)) and calendar.is_workday(date(2026, 12, 5))


def test_a_year_the_package_does_not_know_counts_monday_to_friday():
    calendar = Calendar()
    assert calendar.is_workday(date(2031, 5, 1)) is (date(2031, 5, 1).weekday() < 5)


def test_working_hours_are_office_hours_of_working_days():
    calendar = Calendar(office_hours=(time(9), time(17)))
    # filed on Friday evening, answered on Monday at 10:00: one office hour
    assert calendar.working_hours_between(shanghai(2026, 12, 4, 20), shanghai(2026, 12, 7, 10)) == 1.0
    # within one day
    assert calendar.working_hours_between(shanghai(2026, 12, 3, 8), shanghai(2026, 12, 3, 12, 30)) == 3.5
    # over Golden Week: 30 September 16:00 to 8 October 10:00 = 1 h + 1 h
    assert calendar.working_hours_between(shanghai(2026, 9, 30, 16), shanghai(2026, 10, 8, 10)) == 2.0


def test_a_calendar_ending_before_next_month_is_warned_about(caplog):
    settings = load_settings({})
    with caplog.at_level(logging.WARNING):
        working_calendar(settings, today=date(2026, 12, 4))
    assert "HOLIDAYS" in caplog.text and "2027" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        working_calendar(settings, today=date(2026, 6, 1))
    assert caplog.text == ""
    overridden = load_settings({"HOLIDAYS": "2027-01-01,2027-02-17"})
    with caplog.at_level(logging.WARNING):
        calendar = working_calendar(overridden, today=date(2026, 12, 4))
    assert caplog.text == "" and not calendar.is_workday(date(2027, 2, 17))


@pytest.mark.parametrize("value", ["9-17", "17:00-09:00", "09:00", "nine to five"])
def test_bad_office_hours_are_named(value):
    with pytest.raises(SettingsError, match="OFFICE_HOURS"):
        load_settings({"OFFICE_HOURS": value})


def test_office_hours_are_read():
    assert load_settings({"OFFICE_HOURS": "08:30-17:30"}).office_hours == (time(8, 30), time(17, 30))


def test_a_deadline_at_midnight_reads_as_the_end_of_the_day_before():
    from datetime import datetime

    from db.clock import SHANGHAI
    from handlers.texts import when

    midnight = datetime(2026, 12, 8, 0, 0, tzinfo=SHANGHAI)
    assert when(midnight, "zh") == "12月7日 24:00" and when(midnight, "en") == "the end of 07 Dec"
    assert when(datetime(2026, 12, 8, 14, 30, tzinfo=SHANGHAI), "zh") == "12月8日 14:30"
