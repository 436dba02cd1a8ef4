"""Tasks that allocate, plug and release VIPs through the network driver."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from ostia.db.models import Amphora, LoadBalancer, utcnow
from ostia.drivers.network.base import Vip
from ostia.worker.tasks.base import LOG, OstiaTask
from ostia.worker.tasks.compute import live_amphorae


def stored_vip(lb: LoadBalancer) -> Vip:
    return Vip(port_id=lb.vip_port_id or "", address=lb.vip_address or "", subnet_id=lb.vip_subnet_id,
               network_id=lb.vip_network_id)


class AllocateVip(OstiaTask):
    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            lb = session.get_one(LoadBalancer, lb_id)
            req = (lb.vip_subnet_id, lb.vip_network_id, lb.vip_port_id, lb.vip_address)
        vip = self.drivers.network.allocate_vip(lb_id, *req)
        with self.db.session() as session:
            session.execute(update(LoadBalancer).where(LoadBalancer.id == lb_id).values(
                vip_port_id=vip.port_id, vip_address=vip.address, vip_subnet_id=vip.subnet_id,
                vip_network_id=vip.network_id))

    def revert(self, lb_id: str, *args: Any, **kwargs: Any) -> None:
        try:
            self.drivers.network.deallocate_vip(lb_id)
        except Exception:
            LOG.exception("lb=%s could not release the VIP", lb_id)


class PlugVip(OstiaTask):
    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            vip = stored_vip(session.get_one(LoadBalancer, lb_id))
            amp_ids = [a.id for a in live_amphorae(session, lb_id)]
        for amp_id in amp_ids:
            self.drivers.network.plug_vip(amp_id, vip)
            with self.db.session() as session:
                session.execute(update(Amphora).where(Amphora.id == amp_id).values(
                    ha_ip=vip.address, ha_port_id=vip.port_id, updated_at=utcnow()))


class DeallocateVip(OstiaTask):
    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            vip = stored_vip(session.get_one(LoadBalancer, lb_id))
            amp_ids = [a.id for a in live_amphorae(session, lb_id)]
        for amp_id in amp_ids:
            self.drivers.network.unplug_vip(amp_id, vip)
        self.drivers.network.deallocate_vip(lb_id)
