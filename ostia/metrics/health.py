"""The health manager's part of /metrics: heartbeats received, accepted and rejected, and member traffic."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Counters the receiver and updater keep (ostia/health/receiver.py) that mean a beat was thrown away.
REJECTED = ("bad_signature", "undecodable", "malformed", "replayed", "overflow", "unknown_amphora", "db_errors")
# Accepted, but too old or with the wrong listener count to refresh the amphora's health.
NOT_REFRESHED = ("too_slow", "listener_count_mismatch")
# Member counters summed from heartbeats: (metric, heartbeat key, help). Names as Octavia's prometheus proxy.
MEMBER_COUNTERS = (
    ("octavia_member_bytes_in_total", "rx", "Bytes received from clients for this member."),
    ("octavia_member_bytes_out_total", "tx", "Bytes sent to clients by this member."),
    ("octavia_member_sessions_total", "totconns", "Sessions sent to this member."),
    ("octavia_member_connection_errors_total", "econ", "Failed connection attempts to this member."),
    ("octavia_member_response_errors_total", "eresp", "Response errors of this member."),
)
MEMBER_LABELS = ["loadbalancer", "listener", "pool", "member"]


class HealthManagerCollector(Collector):
    def __init__(self, hm: Any) -> None:
        self.hm = hm  # ostia.health.service.HealthManager

    def collect(self) -> Iterator[Metric]:
        counts = self.hm.counters.snapshot()
        yield CounterMetricFamily("ostia_heartbeats_received", "Heartbeat datagrams received.",
                                  value=counts.get("packets", 0))
        yield CounterMetricFamily("ostia_heartbeats_accepted", "Heartbeats verified and written.",
                                  value=counts.get("accepted", 0))
        rejected = CounterMetricFamily("ostia_heartbeats_rejected", "Heartbeats dropped, by reason.",
                                       labels=["reason"])
        for reason in REJECTED:
            rejected.add_metric([reason], counts.get(reason, 0))
        yield rejected
        stale = CounterMetricFamily("ostia_heartbeats_not_refreshed",
                                    "Heartbeats accepted without refreshing the amphora's health, by reason.",
                                    labels=["reason"])
        for reason in NOT_REFRESHED:
            stale.add_metric([reason], counts.get(reason, 0))
        yield stale
        yield GaugeMetricFamily("ostia_heartbeat_queue_depth", "Heartbeats received and not yet written.",
                                value=self.hm.updater.queue_depth)
        yield from self._members()

    def _members(self) -> Iterator[Metric]:
        rows = self.hm.updater.traffic.snapshot()
        families = [CounterMetricFamily(name, text, labels=MEMBER_LABELS) for name, _, text in MEMBER_COUNTERS]
        current = GaugeMetricFamily("octavia_member_current_sessions", "Current sessions of this member.",
                                    labels=MEMBER_LABELS)
        for key, totals, conns in rows:
            labels = list(key)
            for family, (_, field, _) in zip(families, MEMBER_COUNTERS, strict=True):
                family.add_metric(labels, totals[field])
            current.add_metric(labels, conns)
        yield from families
        yield current
