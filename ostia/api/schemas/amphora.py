"""Amphora wire forms (§2.9): the admin view of amphorae and their per-listener statistics."""

from __future__ import annotations

from typing import Any

from ostia.api.schemas.common import ts
from ostia.db.models import Amphora, ListenerStatistics

STAT_FIELDS = ("active_connections", "bytes_in", "bytes_out", "request_errors", "total_connections")


def to_wire(amp: Amphora) -> dict[str, Any]:
    return {
        "id": amp.id,
        "loadbalancer_id": amp.load_balancer_id,  # ⚠ not load_balancer_id, whatever the api-ref shows
        "compute_id": amp.compute_id,
        "lb_network_ip": amp.lb_network_ip,
        "vrrp_ip": amp.vrrp_ip,
        "ha_ip": amp.ha_ip,
        "vrrp_port_id": amp.vrrp_port_id,
        "ha_port_id": amp.ha_port_id,
        "cert_expiration": ts(amp.cert_expiration),
        "cert_busy": bool(amp.cert_busy),
        "role": amp.role,
        "status": amp.status,
        "vrrp_interface": amp.vrrp_interface,
        "vrrp_id": amp.vrrp_id,
        "vrrp_priority": amp.vrrp_priority,
        "cached_zone": amp.cached_zone,
        "created_at": ts(amp.created_at),
        "updated_at": ts(amp.updated_at),
        "image_id": amp.image_id,
        "compute_flavor": amp.compute_flavor,
    }


def stats_wire(amp: Amphora, row: ListenerStatistics) -> dict[str, Any]:
    return {"id": amp.id, "loadbalancer_id": amp.load_balancer_id, "listener_id": row.listener_id,
            **{field: int(getattr(row, field) or 0) for field in STAT_FIELDS}}
