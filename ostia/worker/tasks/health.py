"""Tasks of the failover flows that touch health bookkeeping: the busy flag, health rows, the timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from ostia.db.models import Amphora, AmphoraHealth, LoadBalancer
from ostia.domain.enums import AmphoraStatus, Topology
from ostia.health import timeline
from ostia.health.timeline import FailoverStage
from ostia.worker.tasks.base import LOG, OstiaTask


def _failure_text(flow_failures: Any) -> str:
    """The first failure taskflow hands a revert, as one line."""
    for failure in (flow_failures or {}).values():
        exc = getattr(failure, "exception", None)
        return f"{type(exc).__name__}: {exc}" if exc is not None else str(failure)
    return "the flow was reverted"


class RecordFailoverFailedOnRevert(OstiaTask):
    """Sentinel near the start of failover flows: nothing on execute; on revert a FAILED timeline row."""

    def execute(self, lb_id: str, amphora_id: str) -> None:
        pass

    def revert(self, lb_id: str, amphora_id: str, *args: Any, **kwargs: Any) -> None:
        if not lb_id:
            return
        with self.db.session() as session:
            timeline.record(session, FailoverStage.FAILED, lb_id, amphora_id,
                            _failure_text(kwargs.get("flow_failures")))


class MarkAmphoraHealthBusy(OstiaTask):
    """No health manager may pick this amphora while the flow replaces it (the API's failover included)."""

    def execute(self, amphora_id: str) -> None:
        with self.db.session() as session:
            session.execute(update(AmphoraHealth).where(AmphoraHealth.amphora_id == amphora_id).values(busy=True))

    def revert(self, amphora_id: str, *args: Any, **kwargs: Any) -> None:
        # The amphora is left ERROR by the flow's revert, which the scanner never picks: releasing is safe.
        with self.db.session() as session:
            session.execute(update(AmphoraHealth).where(AmphoraHealth.amphora_id == amphora_id).values(busy=False))


class DisableAmphoraHealthMonitoring(OstiaTask):
    """Forget the failed amphora's heartbeats; its replacement gets a row of its own with its first one."""

    def execute(self, amphora_id: str) -> None:
        with self.db.session() as session:
            session.execute(delete(AmphoraHealth).where(AmphoraHealth.amphora_id == amphora_id))


def surviving_peer(session: Any, lb_id: str, amphora_id: str) -> str | None:
    """An ACTIVE_STANDBY LB's other ALLOCATED amphora (keepalived moves the VIP to it), else None."""
    topology = session.scalar(select(LoadBalancer.topology).where(LoadBalancer.id == lb_id))
    if topology != Topology.ACTIVE_STANDBY:
        return None
    return session.scalar(select(Amphora.id).where(
        Amphora.load_balancer_id == lb_id, Amphora.id != amphora_id, Amphora.status == AmphoraStatus.ALLOCATED))


class RecordPeerServes(OstiaTask):
    """ACTIVE_STANDBY: the surviving peer serves the VIP from the start of the flow: TRAFFIC_RESTORED now."""

    def execute(self, lb_id: str, amphora_id: str) -> None:
        with self.db.session() as session:
            peer = surviving_peer(session, lb_id, amphora_id)
            if peer is not None:
                timeline.record(session, FailoverStage.TRAFFIC_RESTORED, lb_id, peer,
                                f"surviving peer amp={peer} holds the VIP")


class RecordReplacementServes(OstiaTask):
    """SINGLE (no surviving peer): TRAFFIC_RESTORED once the replacement's HAProxy took its configuration."""

    def execute(self, lb_id: str, amphora_id: str, new_amphora_id: str) -> None:
        with self.db.session() as session:
            if surviving_peer(session, lb_id, new_amphora_id) is None:
                timeline.record(session, FailoverStage.TRAFFIC_RESTORED, lb_id, new_amphora_id,
                                f"replacement amp={new_amphora_id} serves the VIP")


class RecordRedundancyRestored(OstiaTask):
    def execute(self, lb_id: str, amphora_id: str, new_amphora_id: str) -> None:
        LOG.info("lb=%s amp=%s failover done: amp=%s replaces it", lb_id, amphora_id, new_amphora_id)
        with self.db.session() as session:
            timeline.record(session, FailoverStage.REDUNDANCY_RESTORED, lb_id, new_amphora_id,
                            f"amp={new_amphora_id} replaced amp={amphora_id}")
