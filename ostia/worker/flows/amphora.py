"""Flows of the amphora API's jobs: failover, configuration push and delete of one amphora."""

from __future__ import annotations

import importlib

from sqlalchemy import select
from taskflow.patterns import linear_flow

from ostia.db.engine import Database
from ostia.db.models import LoadBalancer
from ostia.domain.enums import Topology
from ostia.drivers.registry import Drivers
from ostia.worker.tasks import amphora, compute, database, health, network
from ostia.worker.tasks.base import LOG, OstiaTask


def failover(db: Database, drivers: Drivers, spare: bool) -> linear_flow.Flow:
    """Replace the amphora, fastest safe order first (the LB is PENDING_UPDATE since the API call or the
    health manager's decision, and ends ACTIVE, or ERROR with a FAILED timeline row if the flow reverts):

    1. the replacement is built, or claimed from the spare pool (instant), while the failed one still exists:
       a failed build leaves everything as it was;
    2. the failed amphora is deleted, which frees its VIP port and namespace (in netns its NIC would otherwise
       still answer ARP for the VIP);
    3. the replacement gets the VIP and member networks and the configuration, and serves
       (TRAFFIC_RESTORED for SINGLE; an ACTIVE_STANDBY peer served from step 0);
    4. ACTIVE_STANDBY: keepalived is rendered and applied again on every amphora of the LB;
    5. the failed amphora's health row goes, the replacement reports with its own heartbeats
       (REDUNDANCY_RESTORED).
    A spare only gets deleted and replaced by a new spare.
    """
    flow = linear_flow.Flow("amphora.failover")
    if spare:
        flow.add(health.MarkAmphoraHealthBusy(db, drivers), compute.DeleteAmphora(db, drivers),
                 compute.CreateReplacementAmphora(db, drivers), health.DisableAmphoraHealthMonitoring(db, drivers))
        return flow
    flow.add(database.LoadBalancerToErrorOnRevert(db, drivers),
             health.RecordFailoverFailedOnRevert(db, drivers),
             compute.AmphoraToErrorOnRevert(db, drivers),
             health.MarkAmphoraHealthBusy(db, drivers),
             health.RecordPeerServes(db, drivers),
             compute.CreateReplacementAmphora(db, drivers),
             compute.DeleteAmphora(db, drivers),
             network.PlugReplacementAmphora(db, drivers),
             amphora.UpdateAmphoraConfig(db, drivers),
             health.RecordReplacementServes(db, drivers),
             ReapplyVrrp(db, drivers),
             health.DisableAmphoraHealthMonitoring(db, drivers),
             database.MarkLoadBalancerTreeActive(db, drivers),
             health.RecordRedundancyRestored(db, drivers))
    return flow


class ReapplyVrrp(OstiaTask):
    """ACTIVE_STANDBY hook: after the replacement is configured, keepalived is rendered and applied again on
    every amphora of the LB (peer addresses changed) by the VRRP tasks' UpdateVrrp. SINGLE: nothing."""

    def execute(self, lb_id: str, amphora_id: str, new_amphora_id: str) -> None:
        with self.db.session() as session:
            topology = session.scalar(select(LoadBalancer.topology).where(LoadBalancer.id == lb_id))
        if topology != Topology.ACTIVE_STANDBY:
            return
        try:  # imported by name: the VRRP tasks live in their own module, written separately
            vrrp = importlib.import_module("ostia.worker.tasks.vrrp")
        except ImportError:  # VRRP tasks not there yet: keepalived keeps the configuration it has
            LOG.warning("lb=%s no VRRP tasks: keepalived not re-applied after failover", lb_id)
            return
        update = vrrp.UpdateVrrp(self.db, self.drivers)
        known = {"lb_id": lb_id, "amphora_id": amphora_id, "new_amphora_id": new_amphora_id}
        update.execute(**{name: known[name] for name in update.requires if name in known})


def config(db: Database, drivers: Drivers) -> linear_flow.Flow:
    flow = linear_flow.Flow("amphora.config")
    flow.add(compute.PushAmphoraConfig(db, drivers))
    return flow


def delete(db: Database, drivers: Drivers) -> linear_flow.Flow:
    """Only ERROR (or spare READY) amphorae get here; the load balancer is not touched."""
    flow = linear_flow.Flow("amphora.delete")
    flow.add(compute.DeleteAmphora(db, drivers))
    return flow


def build(op: str, db: Database, drivers: Drivers, spare: bool) -> linear_flow.Flow:
    if op == "failover":
        return failover(db, drivers, spare)
    if op == "config":
        return config(db, drivers)
    if op == "delete":
        return delete(db, drivers)
    raise ValueError(f"unknown job kind amphora.{op}")
