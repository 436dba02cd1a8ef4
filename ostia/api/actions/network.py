"""Resolving VIP and member network references against the networks Ostia's drivers own."""

from __future__ import annotations

import dataclasses
import ipaddress

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia.db.models import Network, Port, Subnet
from ostia.domain import errors


@dataclasses.dataclass
class VipRequest:
    port_id: str | None
    subnet_id: str | None
    network_id: str | None
    address: str | None


def resolve_vip(session: Session, vip: VipRequest, accepts_unknown: bool) -> VipRequest:
    """Fill in what the given VIP fields imply (subnet→network, port→subnet/address); 400 on bad refs."""
    if not (vip.port_id or vip.subnet_id or vip.network_id):
        raise errors.ValidationFailure(
            "VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
    out = dataclasses.replace(vip)
    if vip.port_id:
        port = session.get(Port, vip.port_id)
        if port is None:
            if not accepts_unknown:
                raise errors.BadRequest(f"Port {vip.port_id} not found.")
        else:
            if port.device_owner:
                raise errors.BadRequest(f"Port {port.id} is already in use.")
            out.subnet_id, out.network_id = port.subnet_id, port.network_id
            out.address = out.address or port.ip_address
    if vip.subnet_id and not vip.port_id:
        subnet = session.get(Subnet, vip.subnet_id)
        if subnet is None:
            if not accepts_unknown:
                raise errors.BadRequest(f"Subnet {vip.subnet_id} not found.")
        else:
            if vip.network_id and vip.network_id != subnet.network_id:
                raise errors.ValidationFailure(
                    f"Subnet {subnet.id} is not on network {vip.network_id}.")
            out.network_id = subnet.network_id
            check_in_subnet(subnet, vip.address)
    elif vip.network_id and not vip.port_id:
        network = session.get(Network, vip.network_id)
        if network is None:
            if not accepts_unknown:
                raise errors.BadRequest(f"Network {vip.network_id} not found.")
        else:
            subnets = list(session.scalars(select(Subnet).where(Subnet.network_id == network.id)))
            if vip.address:
                matching = [s for s in subnets if _contains(s, vip.address)]
                if not matching:
                    raise errors.ValidationFailure(
                        f"Unable to find a subnet on network {network.id} for VIP address {vip.address}.")
                out.subnet_id = matching[0].id
            elif subnets:
                subnets.sort(key=lambda s: s.ip_version)  # IPv4 preferred
                out.subnet_id = subnets[0].id
            else:
                raise errors.ValidationFailure(f"Supplied network {network.id} has no subnets.")
    return out


def check_additional_vips(session: Session, vip: VipRequest, extras: list[tuple[str, str | None]],
                          accepts_unknown: bool) -> None:
    """Each additional VIP's (subnet_id, ip_address): a known subnet on the VIP's network, the address in it."""
    for subnet_id, address in extras:
        subnet = session.get(Subnet, subnet_id)
        if subnet is None:
            if not accepts_unknown:
                raise errors.BadRequest(f"Subnet {subnet_id} not found.")
            continue
        if vip.network_id and subnet.network_id != vip.network_id:
            raise errors.VipSubnetsNotOnOneNetwork()
        check_in_subnet(subnet, address)


def _contains(subnet: Subnet, address: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(subnet.cidr)


def check_in_subnet(subnet: Subnet, address: str | None) -> None:
    if address and not _contains(subnet, address):
        raise errors.ValidationFailure(f"VIP address {address} is not in subnet {subnet.id} ({subnet.cidr}).")


def check_subnet(session: Session, subnet_id: str | None, accepts_unknown: bool) -> None:
    """Member `subnet_id`: known, or any UUID when the network driver is noop."""
    if subnet_id and session.get(Subnet, subnet_id) is None and not accepts_unknown:
        raise errors.BadRequest(f"Subnet {subnet_id} not found.")
