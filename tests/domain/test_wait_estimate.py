"""approx_wait_time: mean of recent answered hold times, else the longest current wait."""

from __future__ import annotations

from datetime import timedelta

from kolejka.domain.wait_estimate import SAMPLE, approx_wait_time, format_hms


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def test_it_is_the_mean_of_recent_answered_hold_times() -> None:
    assert approx_wait_time([s(30), s(60), s(90)], [s(500)]) == s(60)


def test_it_uses_only_the_latest_sample() -> None:
    assert approx_wait_time([s(10)] * SAMPLE + [s(1000)], []) == s(10)


def test_without_history_it_is_the_longest_current_wait() -> None:
    assert approx_wait_time([], [s(12), s(75.9)]) == s(75)


def test_an_empty_quiet_queue_expects_no_wait() -> None:
    assert approx_wait_time([], []) == s(0)


def test_it_formats_as_hours_minutes_seconds() -> None:
    assert format_hms(s(0)) == "00:00:00"
    assert format_hms(s(3725)) == "01:02:05"
    assert format_hms(s(100 * 3600)) == "100:00:00"
    assert format_hms(s(-5)) == "00:00:00"
