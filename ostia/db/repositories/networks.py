"""The networks Ostia's drivers own, seeded from `[networking] networks`."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ostia.db.engine import Database
from ostia.db.models import AdditionalVip, LoadBalancer, Network, Subnet


def stable_id(kind: str, name: str) -> str:
    """Same name, same id on every machine and restart (clients may have stored it)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ostia:{kind}:{name}"))


def parse_spec(spec: str) -> tuple[str, str, str]:
    try:
        net, sub, cidr = spec.split(":", 2)
        ipaddress.ip_network(cidr)
    except ValueError:
        raise ValueError(f"[networking] networks: {spec!r} is not network-name:subnet-name:cidr") from None
    return net, sub, cidr


def seed(session: Session, specs: list[str]) -> None:
    for spec in specs:
        net_name, sub_name, cidr = parse_spec(spec)
        net = session.scalars(select(Network).where(Network.name == net_name)).first()
        if net is None:
            net = Network(id=stable_id("network", net_name), name=net_name)
            session.add(net)
            session.flush()
        if session.scalars(select(Subnet).where(Subnet.name == sub_name)).first() is None:
            network = ipaddress.ip_network(cidr)
            session.add(Subnet(id=stable_id("subnet", sub_name), name=sub_name, network_id=net.id, cidr=cidr,
                               ip_version=network.version, gateway_ip=str(next(network.hosts()))))


class AllocatedVip(Protocol):
    port_id: str
    address: str
    subnet_id: str | None
    network_id: str | None


class VipAllocator(Protocol):
    """The network driver's VIP reservation (idempotent per load balancer and subnet)."""

    def allocate_vip(self, load_balancer_id: str, subnet_id: str | None, network_id: str | None,
                     port_id: str | None, address: str | None) -> AllocatedVip: ...

    def allocate_additional_vips(self, load_balancer_id: str, network_id: str | None,
                                 requests: list[tuple[str, str | None]]) -> Sequence[AllocatedVip]: ...


def reserve_vips(db: Database, allocator: VipAllocator, load_balancer_id: str,
                 request: tuple[str | None, str | None, str | None, str | None],
                 extras: list[tuple[str, str | None]]) -> tuple[AllocatedVip, Sequence[AllocatedVip]]:
    """Allocate the VIP (subnet, network, port, address of `request`) and the additional VIPs ((subnet,
    address) of `extras`), and record them on the load balancer's rows: the API at create, the create flow
    (again, idempotently) in AllocateVip."""
    vip = allocator.allocate_vip(load_balancer_id, *request)
    added = allocator.allocate_additional_vips(load_balancer_id, vip.network_id, extras) if extras else []
    with db.session() as session:
        session.execute(update(LoadBalancer).where(LoadBalancer.id == load_balancer_id).values(
            vip_port_id=vip.port_id, vip_address=vip.address, vip_subnet_id=vip.subnet_id,
            vip_network_id=vip.network_id))
        for extra in added:
            session.execute(update(AdditionalVip).where(
                AdditionalVip.load_balancer_id == load_balancer_id, AdditionalVip.subnet_id == extra.subnet_id)
                .values(ip_address=extra.address, port_id=extra.port_id, network_id=extra.network_id))
    return vip, added
