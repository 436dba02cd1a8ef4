"""Tasks that allocate, plug and release VIPs and member networks through the network driver.

Plugging is two steps, like Octavia's: the network driver attaches a port to the amphora (PlugVIPAmphora,
HandleNetworkDelta), then the agent configures the interface it finds (AmphoraPostVIPPlug, AmphoraePostNetworkPlug).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select, update

from ostia.db.models import Amphora, LoadBalancer, Member, Pool, Subnet, utcnow
from ostia.db.repositories.networks import reserve_vips
from ostia.drivers.network.base import PortPlug, Vip
from ostia.worker.tasks.base import LOG, OstiaTask
from ostia.worker.tasks.compute import live_amphorae


def stored_vip(lb: LoadBalancer) -> Vip:
    return Vip(port_id=lb.vip_port_id or "", address=lb.vip_address or "", subnet_id=lb.vip_subnet_id,
               network_id=lb.vip_network_id)


def additional_vip_plugs(session: Any, lb: LoadBalancer) -> tuple[PortPlug, ...]:
    """The load balancer's allocated additional VIPs as POST /plug/vip's `additional_vips` describe them."""
    out = []
    for extra in lb.additional_vips:
        if not extra.ip_address:
            continue
        subnet = session.get(Subnet, extra.subnet_id)
        # A subnet the network driver does not keep (noop accepts any id): a host prefix still serves it.
        cidr = subnet.cidr if subnet else str(ipaddress.ip_network(extra.ip_address))
        out.append(PortPlug(mac_address="", ip_address=extra.ip_address, subnet_cidr=cidr,
                            gateway=subnet.gateway_ip if subnet else None, subnet_id=extra.subnet_id))
    return tuple(out)


def member_subnets(session: Any, lb_id: str) -> list[str]:
    return sorted({s for s in session.scalars(
        select(Member.subnet_id).join(Pool).where(Pool.load_balancer_id == lb_id)) if s})


def plug_vip_into(db: Any, drivers: Any, amphora_id: str, vip: Vip, extras: tuple[PortPlug, ...] = ()) -> None:
    # Additional VIPs share the VIP's NIC (all on the VIP network): the agent adds them (SINGLE) or records
    # them for keepalived (ACTIVE_STANDBY) with the VIP.
    plug = drivers.network.plug_vip(amphora_id, vip)
    drivers.amphora.post_vip_plug(amphora_id, vip.address, plug, extras)
    with db.session() as session:
        session.execute(update(Amphora).where(Amphora.id == amphora_id).values(
            ha_ip=vip.address, ha_port_id=vip.port_id, vrrp_ip=plug.ip_address, updated_at=utcnow()))


def plug_members_into(drivers: Any, amphora_id: str, subnet_ids: list[str]) -> None:
    for plug in drivers.network.plug_member_networks(amphora_id, subnet_ids):
        drivers.amphora.post_network_plug(amphora_id, plug)


class AllocateVip(OstiaTask):
    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            lb = session.get_one(LoadBalancer, lb_id)
            req = (lb.vip_subnet_id, lb.vip_network_id, lb.vip_port_id, lb.vip_address)
            extras = [(v.subnet_id, v.ip_address) for v in lb.additional_vips]
        reserve_vips(self.db, self.drivers.network, lb_id, req, extras)

    def revert(self, lb_id: str, *args: Any, **kwargs: Any) -> None:
        try:
            self.drivers.network.deallocate_vip(lb_id)
        except Exception:
            LOG.exception("lb=%s could not release the VIP", lb_id)


class PlugVip(OstiaTask):
    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            lb = session.get_one(LoadBalancer, lb_id)
            vip, extras = stored_vip(lb), additional_vip_plugs(session, lb)
            amp_ids = [a.id for a in live_amphorae(session, lb_id)]
        for amp_id in amp_ids:
            plug_vip_into(self.db, self.drivers, amp_id, vip, extras)

    def revert(self, lb_id: str, *args: Any, **kwargs: Any) -> None:
        with self.db.session() as session:
            vip = stored_vip(session.get_one(LoadBalancer, lb_id))
            amp_ids = [a.id for a in live_amphorae(session, lb_id)]
        for amp_id in amp_ids:
            try:
                self.drivers.network.unplug_vip(amp_id, vip)
            except Exception:  # revert never raises: log and go on
                LOG.exception("lb=%s amp=%s could not unplug the VIP", lb_id, amp_id)


class PlugMemberNetworks(OstiaTask):
    """CalculateDelta + HandleNetworkDelta + AmphoraePostNetworkPlug for every amphora of the LB."""

    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            subnets = member_subnets(session, lb_id)
            amp_ids = [a.id for a in live_amphorae(session, lb_id)]
        for amp_id in amp_ids:
            plug_members_into(self.drivers, amp_id, subnets)


class PlugReplacementAmphora(OstiaTask):
    """Give only the new amphora the VIP and the member networks (the others already have them)."""

    def execute(self, lb_id: str, new_amphora_id: str) -> None:
        with self.db.session() as session:
            lb = session.get_one(LoadBalancer, lb_id)
            vip, extras = stored_vip(lb), additional_vip_plugs(session, lb)
            subnets = member_subnets(session, lb_id)
        plug_vip_into(self.db, self.drivers, new_amphora_id, vip, extras)
        plug_members_into(self.drivers, new_amphora_id, subnets)


class DeallocateVip(OstiaTask):
    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            vip = stored_vip(session.get_one(LoadBalancer, lb_id))
            amp_ids = [a.id for a in live_amphorae(session, lb_id)]
        for amp_id in amp_ids:
            self.drivers.network.unplug_vip(amp_id, vip)
        self.drivers.network.deallocate_vip(lb_id)
