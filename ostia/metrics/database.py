"""The database's part of /metrics: what every controller process shares, read at scrape time.

Jobs by state, failover timeline events, the operating and provisioning status of every load balancer,
listener, pool and member, and the listener counters the health managers sum from heartbeats (all amphorae
of a listener added up, so the numbers are the same whichever API process is scraped).
Status gauges carry the status as a label with the value 1, one series per object.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from ostia.db.engine import Database
from ostia.db.models import FailoverEvent, Job, Listener, ListenerStatistics, LoadBalancer, Member, Pool
from ostia.domain.enums import ProvisioningStatus

# Timeline stages that end a failover, and the outcome each means.
OUTCOMES = {"DECIDED": "started", "TRAFFIC_RESTORED": "traffic_restored",
            "REDUNDANCY_RESTORED": "succeeded", "FAILED": "failed", "SKIPPED": "skipped"}
# (metric, column, help, is a counter); names as Octavia's prometheus proxy.
LISTENER_STATS = (
    ("octavia_listener_bytes_in", ListenerStatistics.bytes_in, "Bytes received by this listener.", True),
    ("octavia_listener_bytes_out", ListenerStatistics.bytes_out, "Bytes sent by this listener.", True),
    ("octavia_listener_connections", ListenerStatistics.total_connections, "Connections to this listener.", True),
    ("octavia_listener_request_errors", ListenerStatistics.request_errors, "Request errors of this listener.",
     True),
    ("octavia_listener_current_sessions", ListenerStatistics.active_connections,
     "Current sessions of this listener.", False),
)


class DatabaseCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        with self.db.session() as session:
            jobs = session.execute(select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state)).all()
            events = session.execute(select(FailoverEvent.stage, func.count()).group_by(FailoverEvent.stage)).all()
            # A DELETED load balancer's row stays for [house_keeping] load_balancer_expiry_age, hidden from the API:
            # hidden here too (its series ends with the delete, as in Octavia).
            lbs = session.execute(select(LoadBalancer.id, func.coalesce(LoadBalancer.project_id, ""),
                                         LoadBalancer.provisioning_status, LoadBalancer.operating_status)
                                  .where(LoadBalancer.provisioning_status != ProvisioningStatus.DELETED)).all()
            listeners = session.execute(select(Listener.id, Listener.load_balancer_id,
                                               Listener.provisioning_status, Listener.operating_status)).all()
            pools = session.execute(select(Pool.id, Pool.load_balancer_id, Pool.provisioning_status,
                                           Pool.operating_status)).all()
            members = session.execute(select(Member.id, Member.pool_id, Pool.load_balancer_id,
                                             Member.provisioning_status, Member.operating_status)
                                      .join(Pool, Pool.id == Member.pool_id)).all()
            stats = session.execute(select(ListenerStatistics.listener_id, Listener.load_balancer_id,
                                           *(func.sum(col) for _, col, _, _ in LISTENER_STATS))
                                    .join(Listener, Listener.id == ListenerStatistics.listener_id)
                                    .group_by(ListenerStatistics.listener_id, Listener.load_balancer_id)).all()
        job_family = GaugeMetricFamily("ostia_jobs", "Jobs in the job store, by kind and state.",
                                       labels=["kind", "state"])
        for kind, state, count in jobs:
            job_family.add_metric([kind, str(state)], count)
        yield job_family
        failovers = CounterMetricFamily("ostia_failovers", "Failover timeline events, by outcome: started "
                                        "(DECIDED), traffic_restored, succeeded (REDUNDANCY_RESTORED), failed, "
                                        "skipped (circuit breaker).", labels=["outcome"])
        by_stage = {str(stage): count for stage, count in events}
        for stage, outcome in OUTCOMES.items():
            failovers.add_metric([outcome], by_stage.get(stage, 0))
        yield failovers
        yield _status("octavia_loadbalancer", ["loadbalancer", "project_id"], lbs)
        yield _status("octavia_listener", ["listener", "loadbalancer"], listeners)
        yield _status("octavia_pool", ["pool", "loadbalancer"], pools)
        yield _status("octavia_member", ["member", "pool", "loadbalancer"], members)
        yield from _listener_stats(stats)


def _status(prefix: str, labels: list[str], rows: Sequence[Any]) -> GaugeMetricFamily:
    """`rows`: the `labels` values, then the provisioning and operating status."""
    family = GaugeMetricFamily(f"{prefix}_status", "1 for the object's current provisioning and operating status.",
                               labels=[*labels, "provisioning_status", "operating_status"])
    for *key, provisioning, operating in rows:
        family.add_metric([*key, str(provisioning), str(operating)], 1)
    return family


def _listener_stats(rows: Sequence[Any]) -> Iterator[Metric]:
    labels = ["listener", "loadbalancer"]
    for i, (name, _, text, counter) in enumerate(LISTENER_STATS):
        family: CounterMetricFamily | GaugeMetricFamily = CounterMetricFamily(name, text, labels=labels) if counter \
            else GaugeMetricFamily(name, text, labels=labels)
        for row in rows:
            family.add_metric([row[0], row[1]], int(row[2 + i] or 0))
        yield family
