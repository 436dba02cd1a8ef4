"""The networks Ostia's drivers own, seeded from `[networking] networks`."""

from __future__ import annotations

import ipaddress
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia.db.models import Network, Subnet


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
