"""Counter values of received heartbeats: one reading for listener statistics (database) and member traffic
(/metrics). HAProxy gives its counters as decimal strings, so "12" is 12 for both."""

from __future__ import annotations

from typing import Any

import pytest

from ostia.health.traffic import MemberKey, MemberTraffic
from ostia.heartbeat import counter


@pytest.mark.parametrize(("value", "expected"), [
    (12, 12), (0, 0), (2**64 - 1, 2**64 - 1), ("12", 12), ("0", 0), ("18446744073709551615", 2**64 - 1),
    (-3, 0), ("-3", 0), ("", 0), (" 12", 0), ("1e3", 0), ("１２", 0), ("9" * 21, 0), ("9" * 5000, 0),
    (True, 0), (False, 0), (1.5, 0), (12.0, 0), (None, 0), ([12], 0), ({"v": 12}, 0),
])
def test_counter(value: Any, expected: int) -> None:
    assert counter(value) == expected


def test_member_traffic_counts_numeric_strings_as_the_listener_statistics_do() -> None:
    traffic = MemberTraffic()
    key = MemberKey("lb", "listener", "pool", "member")
    traffic.add([(key, {"rx": "12", "tx": 5, "totconns": "-1", "econ": "x", "conns": "3"}),
                 (key, {"rx": 8, "eresp": "2", "conns": 1})])
    (snapshot,) = traffic.snapshot()
    assert snapshot == (key, {"rx": 20, "tx": 5, "totconns": 0, "econ": 0, "eresp": 2}, 1)
    traffic.add([(key, {"conns": "7"})])
    assert traffic.snapshot()[0][2] == 7
