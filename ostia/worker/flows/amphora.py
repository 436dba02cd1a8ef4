"""Flows of the amphora API's jobs: failover, configuration push and delete of one amphora."""

from __future__ import annotations

from taskflow.patterns import linear_flow

from ostia.db.engine import Database
from ostia.drivers.registry import Drivers
from ostia.worker.tasks import amphora, compute, database, network


def failover(db: Database, drivers: Drivers, spare: bool) -> linear_flow.Flow:
    """Replace the amphora: delete it, build one with the same role, plug the VIP, push the configuration.

    The load balancer (PENDING_UPDATE since the API call) ends ACTIVE, or ERROR if the flow reverts.
    A spare only gets deleted and replaced by a new spare.
    """
    flow = linear_flow.Flow("amphora.failover")
    if spare:
        flow.add(compute.DeleteAmphora(db, drivers), compute.CreateReplacementAmphora(db, drivers))
        return flow
    flow.add(database.LoadBalancerToErrorOnRevert(db, drivers),
             compute.DeleteAmphora(db, drivers),
             compute.CreateReplacementAmphora(db, drivers),
             network.PlugReplacementAmphora(db, drivers),
             amphora.UpdateAmphoraConfig(db, drivers),
             database.MarkLoadBalancerTreeActive(db, drivers))
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
