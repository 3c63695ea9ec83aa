"""Pure rules: quiet hours in local time, the message state machine, broadcast outcomes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcasts.models import Message
from broadcasts.quiet_hours import QUIET_RULES, is_quiet, next_allowed, number_zones
from broadcasts.states import completion_status, message_can_move, message_is_backwards, message_sources

M = Message.Status
PARIS = ("Europe/Paris",)


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 11, 24, 6, 59, tzinfo=UTC), datetime(2026, 11, 24, 7, 0, tzinfo=UTC)),  # 07:59 → 08:00
        (datetime(2026, 11, 24, 7, 0, tzinfo=UTC), datetime(2026, 11, 24, 7, 0, tzinfo=UTC)),  # 08:00 is allowed
        (datetime(2026, 11, 24, 20, 59, tzinfo=UTC), datetime(2026, 11, 24, 20, 59, tzinfo=UTC)),  # 21:59
        (datetime(2026, 11, 24, 21, 0, tzinfo=UTC), datetime(2026, 11, 25, 7, 0, tzinfo=UTC)),  # 22:00 → next 08:00
        (datetime(2026, 11, 28, 21, 30, tzinfo=UTC), datetime(2026, 11, 30, 7, 0, tzinfo=UTC)),  # Sat night → Mon
        (datetime(2026, 11, 29, 12, 0, tzinfo=UTC), datetime(2026, 11, 30, 7, 0, tzinfo=UTC)),  # Sunday
        (datetime(2026, 7, 14, 10, 0, tzinfo=UTC), datetime(2026, 7, 15, 6, 0, tzinfo=UTC)),  # Bastille Day (CEST)
        (datetime(2026, 12, 24, 22, 0, tzinfo=UTC), datetime(2026, 12, 26, 7, 0, tzinfo=UTC)),  # → past Christmas
    ],
)
def test_france_22_to_08_sundays_and_public_holidays(utc, expected):
    assert next_allowed("FR", PARIS, utc) == expected


@pytest.mark.parametrize(
    ("number", "utc", "quiet"),
    [
        ("+12125550101", datetime(2026, 11, 24, 13, 0, tzinfo=UTC), False),  # 08:00 New York
        ("+12125550101", datetime(2026, 11, 24, 12, 59, tzinfo=UTC), True),  # 07:59 New York
        ("+12125550101", datetime(2026, 11, 25, 2, 0, tzinfo=UTC), True),  # 21:00 New York
        ("+13105550101", datetime(2026, 11, 25, 2, 0, tzinfo=UTC), False),  # 18:00 Los Angeles
        ("+18085550101", datetime(2026, 11, 24, 17, 30, tzinfo=UTC), True),  # 07:30 Honolulu
    ],
)
def test_united_states_21_to_08_in_the_numbers_own_time_zone(number, utc, quiet):
    assert is_quiet("US", number_zones(number, "US"), utc) is quiet


def test_countries_without_a_rule_are_never_quiet():
    moment = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    assert "UG" not in QUIET_RULES
    assert next_allowed("UG", ("Africa/Kampala",), moment) == moment
    assert number_zones("+256772000001", "UG") == ()


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)))
def test_next_allowed_is_never_earlier_and_never_quiet(moment):
    for country, zones in (("FR", PARIS), ("US", ("America/New_York", "America/Chicago"))):
        allowed = next_allowed(country, zones, moment)
        assert allowed >= moment
        assert not is_quiet(country, zones, allowed)


ORDER = [M.PENDING, M.QUEUED, M.SENDING, M.SENT, M.DELIVERED, M.READ]


@pytest.mark.parametrize("current", ORDER)
@pytest.mark.parametrize("target", ORDER)
def test_a_message_never_moves_backwards(current, target):
    if message_is_backwards(current, target):
        assert not message_can_move(current, target)


@pytest.mark.parametrize("end", [M.FAILED, M.SKIPPED, M.CANCELLED, M.READ])
def test_ends_have_no_way_out(end):
    assert not any(message_can_move(end, target) for target in M.values)


def test_delivery_reports_only_move_messages_that_left():
    assert message_sources(M.DELIVERED) == {M.SENDING, M.SENT}
    assert message_sources(M.READ) == {M.SENDING, M.SENT, M.DELIVERED}
    assert M.DELIVERED not in message_sources(M.FAILED)


@pytest.mark.parametrize(
    ("left", "failed", "status"), [(5, 0, "sent"), (0, 3, "failed"), (4, 1, "partially_sent"), (0, 0, "sent")]
)
def test_completion_status(left, failed, status):
    assert completion_status(left=left, failed=failed) == status
