"""Per-member traffic summed from heartbeats, in this health manager's memory, for /metrics.

Amphorae send `member_stats` deltas beside their members' statuses (ostia/heartbeat.py); the database keeps
only listener totals, so member counters exist where the beats arrive. With several health managers each
amphora spreads its beats over all of them: each exports its share and Prometheus' sum() adds them up.
Only members of the beating amphora's own tree are counted, and at most `MAX_SERIES` of them, so forged ids
cannot grow memory; a deleted member's series stays until the process restarts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, NamedTuple

from ostia.heartbeat import counter

MAX_SERIES = 200_000
FIELDS = ("rx", "tx", "totconns", "econ", "eresp")


class MemberKey(NamedTuple):
    loadbalancer: str
    listener: str
    pool: str
    member: str


class MemberTraffic:
    def __init__(self, max_series: int = MAX_SERIES) -> None:
        self.max_series = max_series
        self._lock = threading.Lock()
        self._totals: dict[MemberKey, dict[str, int]] = {}
        self._current: dict[MemberKey, int] = {}

    def add(self, deltas: Iterable[tuple[MemberKey, dict[str, Any]]]) -> None:
        """Counter deltas of committed beats; `conns` is absolute (the latest wins)."""
        with self._lock:
            for key, stats in deltas:
                totals = self._totals.get(key)
                if totals is None:
                    if len(self._totals) >= self.max_series:
                        continue
                    totals = self._totals[key] = dict.fromkeys(FIELDS, 0)
                for name in FIELDS:
                    totals[name] += counter(stats.get(name))
                self._current[key] = counter(stats.get("conns"))

    def snapshot(self) -> list[tuple[MemberKey, dict[str, int], int]]:
        with self._lock:
            return [(key, dict(totals), self._current.get(key, 0)) for key, totals in self._totals.items()]
