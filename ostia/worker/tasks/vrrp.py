"""ACTIVE_STANDBY: the VRRP group of a load balancer and keepalived on both of its amphorae.

Both tasks take only `lb_id` and do nothing for a SINGLE load balancer, so flows add them unconditionally.
The group needs no table: the virtual router id and the (VRRPv2) password are derived from the load
balancer id (ostia/domain/vrrp.py), so a replacement amphora joins the same group. What the amphora API
shows (vrrp_id, vrrp_priority, vrrp_interface; vrrp_ip comes from the VIP plug) is kept on the amphora rows.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import update

from ostia.db.models import Amphora, LoadBalancer, Subnet, utcnow
from ostia.domain.enums import AmphoraStatus, Topology
from ostia.domain.errors import OstiaError
from ostia.domain.vrrp import VIP_INTERFACE, VrrpSpec, auth_pass_for, priority_for, vrrp_id_for
from ostia.worker.tasks.base import LOG, OstiaTask
from ostia.worker.tasks.compute import live_amphorae
from ostia.worker.tasks.network import additional_vip_plugs


def _vrrp_amphorae(session: Any, lb: LoadBalancer) -> list[Amphora]:
    # BOOTING/READY ones are not serving yet; a failed-over amphora is no longer live.
    return [a for a in live_amphorae(session, lb.id) if a.status == AmphoraStatus.ALLOCATED]


def _vip_cidrs(session: Any, lb: LoadBalancer) -> tuple[str, ...]:
    if not lb.vip_address:
        raise OstiaError(f"lb={lb.id} has no VIP address")
    subnet = session.get(Subnet, lb.vip_subnet_id) if lb.vip_subnet_id else None
    # A subnet the network driver does not keep (noop accepts any id): a host route still serves the VIP,
    # since the amphora's own address on the network brings the connected route.
    vip = ipaddress.ip_address(lb.vip_address)
    prefix = ipaddress.ip_network(subnet.cidr, strict=False).prefixlen if subnet else vip.max_prefixlen
    # Octavia's keepalived moves the additional VIPs with the VIP (same NIC, same VRRP instance).
    extras = tuple(f"{p.ip_address}/{ipaddress.ip_network(p.subnet_cidr, strict=False).prefixlen}"
                   for p in additional_vip_plugs(session, lb))
    return (f"{vip}/{prefix}", *extras)


def vrrp_specs(session: Any, lb: LoadBalancer) -> list[VrrpSpec]:
    """One spec per serving amphora: its own address as source, every other one's as unicast peer."""
    amps = [a for a in _vrrp_amphorae(session, lb) if a.vrrp_ip]
    vips = _vip_cidrs(session, lb)
    vrrp_id = vrrp_id_for(lb.id)
    specs = []
    for amp in amps:
        specs.append(VrrpSpec(
            load_balancer_id=lb.id, amphora_id=amp.id, vrrp_id=amp.vrrp_id or vrrp_id,
            priority=amp.vrrp_priority or priority_for(amp.role), src_ip=str(amp.vrrp_ip),
            peer_ips=tuple(str(o.vrrp_ip) for o in amps if o.id != amp.id), vips=vips,
            interface=amp.vrrp_interface or VIP_INTERFACE, auth_pass=auth_pass_for(lb.id)))
    return specs


class CreateVrrpGroup(OstiaTask):
    """Octavia's CreateVRRPGroupForLB: give each amphora of the LB its group id, priority and interface."""

    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            lb = session.get_one(LoadBalancer, lb_id)
            if lb.topology != Topology.ACTIVE_STANDBY:
                return
            for amp in _vrrp_amphorae(session, lb):
                session.execute(update(Amphora).where(Amphora.id == amp.id).values(
                    vrrp_id=vrrp_id_for(lb_id), vrrp_priority=priority_for(amp.role),
                    vrrp_interface=VIP_INTERFACE, updated_at=utcnow()))

    def revert(self, lb_id: str, *args: Any, **kwargs: Any) -> None:
        with self.db.session() as session:
            session.execute(update(Amphora).where(Amphora.load_balancer_id == lb_id).values(
                vrrp_id=None, vrrp_interface=None))


class UpdateVrrp(OstiaTask):
    """Render keepalived.conf for every serving amphora of the LB, upload it and start (or reload) keepalived.

    Idempotent: run again after a failover it re-renders both configurations with the new peer address;
    a running keepalived reloads (SIGHUP) and keeps its state, so the current MASTER keeps the VIP.
    """

    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            lb = session.get_one(LoadBalancer, lb_id)
            if lb.topology != Topology.ACTIVE_STANDBY:
                return
            specs = vrrp_specs(session, lb)
        if len(specs) < 2:
            LOG.warning("lb=%s VRRP with %d amphorae (expected 2)", lb_id, len(specs))
        for spec in specs:
            self.drivers.amphora.update_vrrp(spec.amphora_id, spec)
        # Started only once every configuration is in place, the MASTER first: both begin in BACKUP state and
        # the first to miss its peer's adverts for 3 x advert_int takes the VIP (nopreempt keeps it there).
        for spec in sorted(specs, key=lambda s: -s.priority):
            self.drivers.amphora.start_vrrp(spec.amphora_id)
            LOG.info("lb=%s amp=%s keepalived started (vrrp_id=%s priority=%s peers=%s)", lb_id,
                     spec.amphora_id, spec.vrrp_id, spec.priority, list(spec.peer_ips))
