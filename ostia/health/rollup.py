"""Operating status roll-up of one heartbeat against one load balancer tree (internals §3.2), without I/O.

The updater reads the trees of a whole batch at once and hands each amphora's latest message here; what comes
back is the status every object should have, which the updater compares with the database to write only changes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from ostia.domain.enums import PENDING_STATUSES, OperatingStatus

LOG = logging.getLogger(__name__)

ONLINE, OFFLINE, DEGRADED = OperatingStatus.ONLINE, OperatingStatus.OFFLINE, OperatingStatus.DEGRADED
ERROR, DRAINING, NO_MONITOR = OperatingStatus.ERROR, OperatingStatus.DRAINING, OperatingStatus.NO_MONITOR


@dataclasses.dataclass
class ListenerRow:
    id: str
    enabled: bool
    operating_status: str


@dataclasses.dataclass
class PoolRow:
    id: str
    operating_status: str
    members: dict[str, str] = dataclasses.field(default_factory=dict)  # member id -> operating status


@dataclasses.dataclass
class LbTree:
    """What the database says about one load balancer, as far as heartbeats are concerned."""

    id: str
    provisioning_status: str
    operating_status: str
    enabled: bool
    listeners: dict[str, ListenerRow] = dataclasses.field(default_factory=dict)
    pools: dict[str, PoolRow] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Statuses:
    """Target operating statuses; objects a heartbeat says nothing decisive about are absent (left as they are)."""

    load_balancer: str
    listeners: dict[str, str] = dataclasses.field(default_factory=dict)
    pools: dict[str, str] = dataclasses.field(default_factory=dict)
    members: dict[str, str] = dataclasses.field(default_factory=dict)


def expected_listener_count(tree: LbTree) -> int | None:
    """Listeners the amphora must report; None when the check does not apply (LB PENDING_* or disabled), since
    the configuration on the amphora may legitimately lag the database then."""
    if tree.provisioning_status in PENDING_STATUSES or not tree.enabled:
        return None
    return sum(1 for listener in tree.listeners.values() if listener.enabled)


def listener_count_matches(tree: LbTree, message: Mapping[str, Any]) -> bool:
    expected = expected_listener_count(tree)
    return expected is None or len(message.get("listeners") or {}) == expected


def _member_status(reported: str, member_id: str) -> str | None:
    # HAProxy may add a transition suffix ("UP 1/2", "DOWN 1/3"): the prefix decides.
    if reported.startswith("UP"):
        return ONLINE
    if reported.startswith("DOWN"):
        return ERROR
    if reported == "DRAIN":
        return DRAINING
    if reported == "MAINT":
        return OFFLINE
    if reported == "no check":
        return NO_MONITOR
    if reported != "RESTARTING":  # keepalived restarting: the truth is unknown, keep what we have
        LOG.warning("member=%s reported status %r", member_id, reported)
    return None


def roll_up(tree: LbTree, message: Mapping[str, Any]) -> Statuses:
    lb_status: str = ONLINE if tree.enabled else OFFLINE
    out = Statuses(load_balancer=lb_status)
    reported_listeners: Mapping[str, Any] = message.get("listeners") or {}
    for listener in tree.listeners.values():
        report = reported_listeners.get(listener.id)
        if report is None:
            active = tree.provisioning_status == "ACTIVE"
            out.listeners[listener.id] = ERROR if listener.enabled and active else OFFLINE
            continue
        status = report.get("status") if isinstance(report, Mapping) else None
        if status == "OPEN":
            out.listeners[listener.id] = ONLINE
        elif status == "FULL":
            out.listeners[listener.id] = DEGRADED
            if lb_status == ONLINE:
                lb_status = DEGRADED
        else:
            LOG.warning("lb=%s listener=%s reported status %r", tree.id, listener.id, status)

    # Keys are "<pool id>:<listener id>"; a pool used by several listeners appears once per listener.
    reported_pools: dict[str, Any] = {}
    for key, value in (message.get("pools") or {}).items():
        if isinstance(value, Mapping):
            reported_pools[key.rpartition(":")[0] or key] = value
    for pool in tree.pools.values():
        report = reported_pools.get(pool.id)
        if report is None:
            out.pools[pool.id] = OFFLINE  # not configured on the amphora (e.g. attached to no listener)
            continue
        pool_status: str | None = None
        if report.get("status") == "UP":
            pool_status = ONLINE
        elif report.get("status") == "DOWN":
            pool_status = ERROR
            lb_status = ERROR
        else:
            LOG.warning("lb=%s pool=%s reported status %r", tree.id, pool.id, report.get("status"))
        members: Mapping[str, Any] = report.get("members") or {}
        for member_id, current in pool.members.items():
            reported = members.get(member_id)
            if reported is None:
                if current != NO_MONITOR:
                    out.members[member_id] = OFFLINE
                continue
            member_status = _member_status(str(reported), member_id)
            if member_status is None:
                continue
            out.members[member_id] = member_status
            if member_status == ERROR and pool_status == ONLINE:
                pool_status = DEGRADED
                if lb_status == ONLINE:
                    lb_status = DEGRADED
        if pool_status is not None:
            out.pools[pool.id] = pool_status
    out.load_balancer = lb_status
    return out
