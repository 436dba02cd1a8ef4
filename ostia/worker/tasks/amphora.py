"""Tasks that push the load balancer's desired state to its amphorae through the amphora driver."""

from __future__ import annotations

from sqlalchemy import select

from ostia.db.models import Member, Pool
from ostia.worker.tasks.base import OstiaTask
from ostia.worker.tasks.compute import live_amphorae


class PlugMemberNetworks(OstiaTask):
    """Plug every member subnet of the load balancer into its amphorae (CalculateDelta + HandleNetworkDelta)."""

    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            subnets = sorted({s for s in session.scalars(
                select(Member.subnet_id).join(Pool).where(Pool.load_balancer_id == lb_id)) if s})
            amp_ids = [a.id for a in live_amphorae(session, lb_id)]
        for amp_id in amp_ids:
            self.drivers.network.plug_member_networks(amp_id, subnets)


class UpdateAmphoraConfig(OstiaTask):
    """ListenersUpdate: render and apply the whole configuration on every amphora of the LB."""

    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            amp_ids = [a.id for a in live_amphorae(session, lb_id)]
        self.drivers.amphora.update(lb_id, amp_ids)


class RemoveAmphoraConfig(OstiaTask):
    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            amp_ids = [a.id for a in live_amphorae(session, lb_id)]
        self.drivers.amphora.remove(lb_id, amp_ids)
