"""The networks Ostia's drivers own, seeded from `[networking] networks`."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ostia.db.models import AdditionalVip, Network, Subnet


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


def store_additional_vips(session: Session, load_balancer_id: str, allocated: Sequence[AllocatedVip]) -> None:
    """Record what the network driver allocated for the load balancer's additional_vip rows (by subnet)."""
    for extra in allocated:
        session.execute(update(AdditionalVip).where(
            AdditionalVip.load_balancer_id == load_balancer_id, AdditionalVip.subnet_id == extra.subnet_id).values(
            ip_address=extra.address, port_id=extra.port_id, network_id=extra.network_id))
