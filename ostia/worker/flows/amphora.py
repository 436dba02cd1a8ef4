"""Flows of the amphora API's jobs: failover, configuration push and delete of one amphora."""

from __future__ import annotations

from taskflow.patterns import linear_flow

from ostia.db.engine import Database
from ostia.drivers.registry import Drivers
from ostia.worker.tasks import amphora, compute, database, health, network, vrrp


def failover(db: Database, drivers: Drivers, spare: bool) -> linear_flow.Flow:
    """Replace the amphora, fastest safe order first (the LB is PENDING_UPDATE since the API call or the
    health manager's decision, and ends ACTIVE, or ERROR with a FAILED timeline row if the flow reverts):

    1. the replacement is built, or claimed from the spare pool (instant), while the failed one still exists:
       a failed build leaves everything as it was;
    2. the failed amphora is deleted, which frees its VIP port and namespace (in netns its NIC would otherwise
       still answer ARP for the VIP);
    3. the replacement gets the VIP and member networks and the configuration, and serves
       (TRAFFIC_RESTORED for SINGLE; an ACTIVE_STANDBY peer served from step 0);
    4. ACTIVE_STANDBY: keepalived is rendered and applied again on every amphora of the LB (new peer address;
       the replacement inherits the failed one's VRRP id and priority);
    5. the failed amphora's health row goes, the replacement reports with its own heartbeats
       (REDUNDANCY_RESTORED).
    A spare only gets deleted and replaced by a new spare.
    """
    flow = linear_flow.Flow("amphora.failover")
    if spare:
        flow.add(health.MarkAmphoraHealthBusy(db, drivers), compute.DeleteAmphora(db, drivers),
                 compute.CreateReplacementAmphora(db, drivers), health.DisableAmphoraHealthMonitoring(db, drivers))
        return flow
    flow.add(database.LoadBalancerToErrorOnRevert(db, drivers), replacement(db, drivers),
             database.MarkLoadBalancerTreeActive(db, drivers))
    return flow


def replacement(db: Database, drivers: Drivers) -> linear_flow.Flow:
    """Steps 1-5 above for the store's `amphora_id`, leaving the load balancer's status to the caller: the
    amphora failover job marks it ACTIVE after one, a load balancer failover after each of its amphorae."""
    flow = linear_flow.Flow("amphora.replace")
    flow.add(health.RecordFailoverFailedOnRevert(db, drivers),
             compute.AmphoraToErrorOnRevert(db, drivers),
             health.MarkAmphoraHealthBusy(db, drivers),
             health.RecordPeerServes(db, drivers),
             compute.CreateReplacementAmphora(db, drivers),
             compute.DeleteAmphora(db, drivers),
             network.PlugReplacementAmphora(db, drivers),
             amphora.UpdateAmphoraConfig(db, drivers),
             health.RecordReplacementServes(db, drivers),
             vrrp.UpdateVrrp(db, drivers),  # no-op for SINGLE
             health.DisableAmphoraHealthMonitoring(db, drivers),
             health.RecordRedundancyRestored(db, drivers))
    return flow


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
