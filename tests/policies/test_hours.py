"""The lab's calendar: open or closed at an instant, when it opens next, whether a job ends before
closing, in the lab's time zone and across daylight-saving changes."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from django.test import override_settings

from policies.hours import describe_opening
from policies.selectors import lab_calendar
from policies.services import closure_create
from tests.policies.conftest import utc, weekday_hours

pytestmark = pytest.mark.django_db
MARGIN = timedelta(minutes=30)


def test_no_opening_hours_means_always_open():
    calendar = lab_calendar()
    assert calendar.is_open(utc(2026, 12, 6, 3, 0))  # a Sunday night
    assert calendar.may_finish(utc(2026, 12, 6, 3, 0), 20 * 3600, MARGIN)


@override_settings(TIME_ZONE="Europe/Berlin")
def test_weekday_hours_are_wall_clock_in_the_lab_time_zone():
    weekday_hours()  # Mon-Fri 09:00-17:00 Berlin
    calendar = lab_calendar()
    # Monday 7 Dec 2026: winter, UTC+1
    assert not calendar.is_open(utc(2026, 12, 7, 7, 59))
    assert calendar.is_open(utc(2026, 12, 7, 8, 0))  # 09:00 local
    assert not calendar.is_open(utc(2026, 12, 7, 16, 0))  # 17:00 local
    # Friday 16:00 UTC (17:00 local) is after closing: next opening is Monday 09:00 local
    opening = calendar.next_opening(utc(2026, 12, 11, 16, 0))
    assert opening == utc(2026, 12, 14, 8, 0)
    assert describe_opening(opening, calendar.zone) == "Mon 09:00"


@override_settings(TIME_ZONE="Europe/Berlin")
def test_a_job_must_end_a_margin_before_closing():
    weekday_hours()
    calendar = lab_calendar()
    start = utc(2026, 12, 7, 13, 0)  # 14:00 local: 2 h 30 min to the margin before 17:00
    assert calendar.may_finish(start, 2.5 * 3600, MARGIN)
    assert not calendar.may_finish(start, 2.5 * 3600 + 1, MARGIN)
    # A 14-hour print never fits an 8-hour day: no start in the coming year
    assert calendar.next_start(start, 14 * 3600, MARGIN) is None
    # A 3-hour one starts at the next opening
    assert calendar.next_start(start, 3 * 3600, MARGIN) == utc(2026, 12, 8, 8, 0)


@override_settings(TIME_ZONE="Europe/Berlin")
def test_several_intervals_a_day():
    weekday_hours(opens=time(8, 0), closes=time(12, 0), days=[0])
    weekday_hours(opens=time(13, 0), closes=time(18, 0), days=[0])
    calendar = lab_calendar()
    assert calendar.is_open(utc(2026, 12, 7, 10, 0))  # 11:00
    assert not calendar.is_open(utc(2026, 12, 7, 11, 30))  # 12:30: lunch
    assert calendar.next_opening(utc(2026, 12, 7, 11, 30)) == utc(2026, 12, 7, 12, 0)  # 13:00 local


@override_settings(TIME_ZONE="Europe/Berlin")
def test_a_closure_across_the_spring_dst_change():
    # Berlin moves from UTC+1 to UTC+2 on Sunday 29 March 2026.
    weekday_hours(days=range(7))  # open every day 09:00-17:00
    closure_create(start_date=date(2026, 3, 27), end_date=date(2026, 3, 30), reason="Easter works")
    calendar = lab_calendar()
    assert calendar.is_open(utc(2026, 3, 26, 8, 0))  # Thu 09:00 CET
    assert not calendar.is_open(utc(2026, 3, 27, 10, 0))  # Fri, closed
    assert not calendar.is_open(utc(2026, 3, 29, 10, 0))  # Sun (the change), closed
    assert not calendar.is_open(utc(2026, 3, 30, 23, 30))  # 01:30 local on the 31st: after hours
    # After the closure the lab opens Tue 31 March 09:00 CEST = 07:00 UTC (not 08:00 as in winter)
    opening = calendar.next_opening(utc(2026, 3, 26, 16, 0))
    assert opening == utc(2026, 3, 31, 7, 0)
    assert describe_opening(opening, calendar.zone) == "Tue 09:00"
    assert calendar.is_open(utc(2026, 3, 31, 7, 0)) and not calendar.is_open(utc(2026, 3, 31, 6, 59))
    # Closing is 17:00 CEST = 15:00 UTC
    assert calendar.open_interval(utc(2026, 3, 31, 12, 0)) == (
        utc(2026, 3, 31, 7, 0),
        utc(2026, 3, 31, 15, 0),
    )


@override_settings(TIME_ZONE="America/New_York")
def test_the_autumn_change_in_another_zone():
    # New York goes from UTC-4 to UTC-5 on Sunday 1 November 2026.
    weekday_hours(days=range(7))
    calendar = lab_calendar()
    assert calendar.open_interval(utc(2026, 10, 31, 14, 0)) == (
        utc(2026, 10, 31, 13, 0),
        utc(2026, 10, 31, 21, 0),
    )
    assert calendar.open_interval(utc(2026, 11, 1, 15, 0)) == (
        utc(2026, 11, 1, 14, 0),
        utc(2026, 11, 1, 22, 0),
    )


def test_a_closure_without_opening_hours_closes_whole_days():
    closure_create(start_date=date(2026, 12, 24), end_date=date(2026, 12, 26), reason="holidays")
    calendar = lab_calendar()
    assert calendar.is_open(utc(2026, 12, 23, 23, 0))
    assert not calendar.is_open(utc(2026, 12, 25, 12, 0))
    assert calendar.next_opening(utc(2026, 12, 24, 1, 0)) == utc(2026, 12, 27, 0, 0)
    # a 3-day print started on the 22nd would run into the closure
    assert not calendar.may_finish(utc(2026, 12, 22, 12, 0), 3 * 86400, timedelta(0))
