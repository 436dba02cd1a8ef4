"""What a heartbeat says about HAProxy and UDP listeners: `show stat` rows → listeners/pools, counter deltas.

Pure functions plus `Counters`, the last counter values per listener kept in <base_path>/stats_counters.json
so a restarted agent reports deltas since its predecessor's last beat instead of everything since HAProxy
started (the health manager adds deltas up: a repeat would count traffic twice).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# `show stat` "type" column.
_FRONTEND, _BACKEND, _SERVER = "0", "1", "2"
# Proxies HAProxy or a renderer adds for itself, never a listener or pool of the user's.
_INTERNAL_PREFIXES = ("prometheus", "<")
# Counter columns of a FRONTEND row and the heartbeat stats key each delta goes to.
COUNTERS = {"bout": "tx", "bin": "rx", "stot": "totconns", "ereq": "ereq"}
# Counter columns of a SERVER row and the heartbeat member_stats key each delta goes to (for /metrics).
MEMBER_COUNTERS = {"bout": "tx", "bin": "rx", "stot": "totconns", "econ": "econ", "eresp": "eresp"}

OPEN, FULL, DOWN = "OPEN", "FULL", "DOWN"
UP, DRAIN, MAINT, NO_CHECK = "UP", "DRAIN", "MAINT", "no check"


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def listener_status(row: dict[str, str]) -> str:
    """OPEN, FULL once the current sessions reach the frontend's limit, DOWN for a stopped frontend."""
    limit = _int(row.get("slim"))
    if limit > 0 and _int(row.get("scur")) >= limit:
        return FULL
    status = row.get("status", "")
    return status if status in (OPEN, FULL) else DOWN


def member_status(row: dict[str, str]) -> str:
    """A server row's status in the five words the health manager knows.

    HAProxy adds detail ("UP 1/3" going down, "DOWN 1/2" coming up, "MAINT (resolution)", "DRAIN (agent)");
    a server UP with weight 0 takes no new traffic, which is what DRAIN means to the health manager; NOLB
    (disabled by an http-check 404) is draining too."""
    status = row.get("status", "")
    if status.startswith("UP"):
        return DRAIN if _int(row.get("weight")) == 0 else UP
    if status.startswith("DOWN"):
        return DOWN
    if status.startswith("MAINT"):
        return MAINT
    if status.startswith(("DRAIN", "NOLB")):
        return DRAIN
    if status == NO_CHECK:
        return NO_CHECK
    return DOWN  # unknown words: not serving as far as anyone can tell


@dataclass
class LbStats:
    """One load balancer's part of a heartbeat, before counters become deltas."""

    listeners: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → {"status", "conns"}
    counters: dict[str, dict[str, int]] = field(default_factory=dict)  # id → {bout, bin, stot, ereq}
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)  # "pool:listener" → {"status", "members"}
    # "pool:listener/member" → {bout, bin, stot, econ, eresp}, and → current sessions
    member_counters: dict[str, dict[str, int]] = field(default_factory=dict)
    member_conns: dict[str, int] = field(default_factory=dict)


def parse_haproxy(rows: list[dict[str, str]]) -> LbStats:
    out = LbStats()
    for row in rows:
        proxy, kind = row.get("pxname", ""), row.get("type")
        if not proxy or proxy.startswith(_INTERNAL_PREFIXES):
            continue
        if kind == _FRONTEND:
            out.listeners[proxy] = {"status": listener_status(row), "conns": _int(row.get("scur"))}
            out.counters[proxy] = {column: _int(row.get(column)) for column in COUNTERS}
        elif kind == _BACKEND and ":" in proxy:
            pool = out.pools.setdefault(proxy, {"status": DOWN, "members": {}})
            pool["status"] = UP if row.get("status", "").startswith("UP") else DOWN
        elif kind == _SERVER and ":" in proxy:
            pool = out.pools.setdefault(proxy, {"status": DOWN, "members": {}})
            member = row.get("svname", "")
            pool["members"][member] = member_status(row)
            out.member_counters[f"{proxy}/{member}"] = {column: _int(row.get(column)) for column in MEMBER_COUNTERS}
            out.member_conns[f"{proxy}/{member}"] = _int(row.get("scur"))
    return out


def udp_pool_status(members: dict[str, str]) -> str:
    """Like an HAProxy backend: UP while some member can take traffic."""
    return UP if any(s in (UP, NO_CHECK) for s in members.values()) else DOWN


def delta(current: int, previous: int | None) -> int:
    """What happened since the previous reading. A counter that went backwards was reset (a reload starts
    new workers from zero), so everything it shows is new."""
    if previous is None or current < previous:
        return current
    return current - previous


class Counters:
    """Last counter values, per load balancer and listener, on disk between beats and agent restarts."""

    def __init__(self, path: Path, columns: dict[str, str] | None = None) -> None:
        self.path = path
        self.columns = COUNTERS if columns is None else columns  # HAProxy column → heartbeat key
        self._last: dict[str, dict[str, dict[str, int]]] = self._load()

    def _load(self) -> dict[str, dict[str, dict[str, int]]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {lb: {lid: {k: v for k, v in c.items() if isinstance(v, int)}
                     for lid, c in listeners.items() if isinstance(c, dict)}
                for lb, listeners in data.items() if isinstance(listeners, dict)}

    def deltas(self, lb_id: str, counters: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        """Heartbeat stats deltas for one LB's listeners; remembers `counters` as the new last values (the
        LB's listeners not in `counters` are gone and forgotten)."""
        last = self._last.get(lb_id, {})
        out = {lid: {key: delta(values[col], last.get(lid, {}).get(col)) for col, key in self.columns.items()}
               for lid, values in counters.items()}
        self._last[lb_id] = {lid: dict(values) for lid, values in counters.items()}
        return out

    def keep_only(self, lb_ids: set[str]) -> None:
        """Forget deleted load balancers. An LB whose stats could not be read this beat stays: its HAProxy
        may answer next beat, and forgetting would count its traffic again."""
        for lb in set(self._last) - lb_ids:
            del self._last[lb]

    def save(self) -> None:
        # Atomic replace, no fsync: it only has to survive an agent restart, and the beat comes every second.
        tmp = self.path.with_name(self.path.name + ".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(self._last, separators=(",", ":")))
            os.replace(tmp, self.path)
