"""Load balancer flows: create, update, delete, failover."""

from __future__ import annotations

import taskflow.engines
from sqlalchemy import select
from taskflow.patterns import linear_flow

from ostia.db.engine import Database
from ostia.db.models import Amphora
from ostia.domain.enums import AmphoraStatus
from ostia.drivers.registry import Drivers
from ostia.worker.flows import amphora as amphora_flows
from ostia.worker.tasks import amphora, compute, database, network, vrrp
from ostia.worker.tasks.base import LOG, OstiaTask


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


def failover(db: Database, drivers: Drivers, real: bool, amphora_ids: list[str]) -> linear_flow.Flow:
    """Replace every amphora, the VIP staying allocated.

    With the amphora ids the API listed (a complete set: one STANDALONE, or BACKUP then MASTER) they are
    replaced one after the other, each as an amphora failover would (build, then delete the old one), so an
    ACTIVE_STANDBY load balancer keeps serving from the other amphora and a SINGLE one is down only while its
    replacement gets the VIP and configuration. Without (amphorae missing or doubled, e.g. after a failed
    build) everything left is deleted and a new set built.
    """
    flow = linear_flow.Flow("load_balancer.failover")
    flow.add(database.LoadBalancerToErrorOnRevert(db, drivers))
    if real and amphora_ids:
        flow.add(ReplaceAmphoraeInTurn(db, drivers))
    elif real:
        flow.add(compute.DeleteAmphorae(db, drivers), compute.CreateAmphorae(db, drivers),
                 network.PlugVip(db, drivers), network.PlugMemberNetworks(db, drivers),
                 amphora.UpdateAmphoraConfig(db, drivers), *_vrrp(db, drivers))
    flow.add(database.MarkLoadBalancerTreeActive(db, drivers))
    return flow


class ReplaceAmphoraeInTurn(OstiaTask):
    """Runs the amphora replacement flow once per amphora, each in an engine of its own: a replacement that
    fails reverts itself only, and the ones done before it stay in service (the load balancer goes ERROR).
    A resumed job runs them all again; each step finds the work already done (see CreateReplacementAmphora)."""

    def execute(self, lb_id: str, amphora_ids: list[str]) -> None:
        for amphora_id in self.serving_last(amphora_ids):
            taskflow.engines.run(amphora_flows.replacement(self.db, self.drivers),
                                 store={"lb_id": lb_id, "amphora_id": amphora_id}, engine="serial")

    def serving_last(self, amphora_ids: list[str]) -> list[str]:
        """The API's order (BACKUP before MASTER), corrected by what the amphorae say: the one that holds the VIP
        with a running keepalived goes last, whatever its role (after a takeover the BACKUP serves), and a broken
        one (agent silent, keepalived dead, ERROR) first. Ones a resumed job already replaced lead: redoing
        them is only bookkeeping."""
        if len(amphora_ids) < 2:
            return amphora_ids
        with self.db.session() as session:
            statuses = dict(session.execute(select(Amphora.id, Amphora.status)
                                            .where(Amphora.id.in_(amphora_ids))).tuples().all())

        def rank(amphora_id: str) -> int:
            if statuses.get(amphora_id) in (AmphoraStatus.DELETED, None):
                return 0
            if statuses[amphora_id] == AmphoraStatus.ERROR:
                return 1
            status = self.drivers.amphora.vrrp_status(amphora_id)
            if not status or not status.get("keepalived_running"):
                return 1
            return 3 if status.get("vips_held") else 2

        ranks = {amphora_id: rank(amphora_id) for amphora_id in amphora_ids}
        order = sorted(amphora_ids, key=ranks.__getitem__)  # stable: ties keep the API's order
        LOG.info("load balancer failover replaces %s in turn (ranks %s)", order, ranks)
        return order
