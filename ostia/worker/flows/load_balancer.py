"""Load balancer flows: create, update, delete, failover."""

from __future__ import annotations

from taskflow.patterns import linear_flow

from ostia.db.engine import Database
from ostia.drivers.registry import Drivers
from ostia.worker.tasks import amphora, compute, database, network, vrrp
from ostia.worker.tasks.base import OstiaTask


def create(db: Database, drivers: Drivers, real: bool) -> linear_flow.Flow:
    flow = linear_flow.Flow("load_balancer.create")
    flow.add(database.LoadBalancerToErrorOnRevert(db, drivers))
    if real:
        flow.add(network.AllocateVip(db, drivers), compute.CreateAmphorae(db, drivers),
                 network.PlugVip(db, drivers), network.PlugMemberNetworks(db, drivers),
                 amphora.UpdateAmphoraConfig(db, drivers), *_vrrp(db, drivers))
    flow.add(database.MarkLoadBalancerTreeActive(db, drivers))
    return flow


def _vrrp(db: Database, drivers: Drivers) -> list[OstiaTask]:
    """ACTIVE_STANDBY (no-ops for SINGLE): once the VIP is plugged into both amphorae and HAProxy serves on
    both, keepalived decides which one holds the VIP."""
    return [vrrp.CreateVrrpGroup(db, drivers), vrrp.UpdateVrrp(db, drivers)]


def update(db: Database, drivers: Drivers, real: bool) -> linear_flow.Flow:
    flow = linear_flow.Flow("load_balancer.update")
    flow.add(database.LoadBalancerToErrorOnRevert(db, drivers))
    if real:
        flow.add(amphora.UpdateAmphoraConfig(db, drivers))
    flow.add(database.MarkLoadBalancerTreeActive(db, drivers))
    return flow


def delete(db: Database, drivers: Drivers, real: bool) -> linear_flow.Flow:
    flow = linear_flow.Flow("load_balancer.delete")
    flow.add(database.LoadBalancerToErrorOnRevert(db, drivers))
    if real:
        flow.add(amphora.RemoveAmphoraConfig(db, drivers), network.DeallocateVip(db, drivers),
                 compute.DeleteAmphorae(db, drivers))
    flow.add(database.MarkLoadBalancerDeleted(db, drivers))
    return flow


def failover(db: Database, drivers: Drivers, real: bool) -> linear_flow.Flow:
    """Replace every amphora: the VIP stays allocated, new amphorae get it and the configuration."""
    flow = linear_flow.Flow("load_balancer.failover")
    flow.add(database.LoadBalancerToErrorOnRevert(db, drivers))
    if real:
        flow.add(compute.DeleteAmphorae(db, drivers), compute.CreateAmphorae(db, drivers),
                 network.PlugVip(db, drivers), network.PlugMemberNetworks(db, drivers),
                 amphora.UpdateAmphoraConfig(db, drivers), *_vrrp(db, drivers))
    flow.add(database.MarkLoadBalancerTreeActive(db, drivers))
    return flow
