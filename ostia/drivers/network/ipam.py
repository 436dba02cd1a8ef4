"""Address management for the local network drivers: every address handed out is a `port` row.

The unique (subnet_id, ip_address) constraint is the lock: two workers may pick the same free address at
once, one insert wins and the other retries with a fresh view. An allocation is keyed by
(device_id, device_owner, subnet_id), so a resumed flow asking again gets the port it already has.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import logging
import time
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ostia.db.engine import Database
from ostia.db.models import Port, Subnet
from ostia.db.models.base import new_id
from ostia.domain import errors

LOG = logging.getLogger(__name__)

# Owners of the ports the local drivers create (Neutron's device_owner).
OWNER_VIP = "ostia:vip"
OWNER_VRRP = "ostia:vrrp"
OWNER_MEMBER = "ostia:member"
OWNER_HOST = "ostia:host"

_ATTEMPTS = 20  # a lost race costs one retry; 20 losses in a row means something else is wrong


@dataclasses.dataclass(frozen=True)
class Allocation:
    """A port row plus the subnet facts the drivers need to describe the interface."""

    port_id: str
    name: str
    network_id: str
    subnet_id: str
    ip_address: str
    mac_address: str
    cidr: str
    gateway: str | None
    device_id: str
    device_owner: str


def mac_for(port_id: str) -> str:
    """A stable, locally administered unicast MAC: the same port always gets the same NIC address."""
    digest = hashlib.sha256(port_id.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def _allocation(port: Port, subnet: Subnet) -> Allocation:
    return Allocation(port_id=port.id, name=port.name, network_id=port.network_id, subnet_id=port.subnet_id,
                      ip_address=port.ip_address, mac_address=port.mac_address, cidr=subnet.cidr,
                      gateway=subnet.gateway_ip, device_id=port.device_id, device_owner=port.device_owner)


class Ipam:
    def __init__(self, db: Database, reserved_ips: Iterable[str] = ()) -> None:
        self.db = db
        self.reserved = {ipaddress.ip_address(a) for a in reserved_ips if a}

    # -- look-ups ---------------------------------------------------------------------------------------------

    def subnet(self, subnet_id: str) -> Subnet:
        with self.db.session() as session:
            return self._subnet(session, subnet_id)

    def subnets_of_network(self, network_id: str) -> list[Subnet]:
        with self.db.session() as session:
            rows = list(session.scalars(select(Subnet).where(Subnet.network_id == network_id)))
        return sorted(rows, key=lambda s: (s.ip_version, s.name))  # IPv4 first, then a stable order

    def subnet_containing(self, address: str) -> Subnet | None:
        addr = _parse(address)
        with self.db.session() as session:
            for sub in session.scalars(select(Subnet)):
                if addr in ipaddress.ip_network(sub.cidr):
                    return sub
        return None

    def ports(self, device_id: str, device_owner: str | None = None,
              subnet_id: str | None = None) -> list[Allocation]:
        with self.db.session() as session:
            stmt = select(Port, Subnet).join(Subnet, Subnet.id == Port.subnet_id).where(Port.device_id == device_id)
            if device_owner is not None:
                stmt = stmt.where(Port.device_owner == device_owner)
            if subnet_id is not None:
                stmt = stmt.where(Port.subnet_id == subnet_id)
            return [_allocation(p, s) for p, s in session.execute(stmt.order_by(Port.created_at, Port.id))]

    def port(self, port_id: str) -> Allocation | None:
        with self.db.session() as session:
            port = session.get(Port, port_id)
            return None if port is None else _allocation(port, self._subnet(session, port.subnet_id))

    # -- allocation -------------------------------------------------------------------------------------------

    def allocate(self, subnet_id: str, device_id: str, device_owner: str, address: str | None = None,
                 name: str = "", project_id: str | None = None) -> Allocation:
        """The port of (device_id, device_owner, subnet), creating it with `address` or the lowest free one.

        Raises ValidationFailure for an address outside the subnet (or its network/broadcast address or a
        reserved one), Conflict for an address someone else holds, NotFound for an unknown subnet.
        """
        last: Exception | None = None
        for attempt in range(_ATTEMPTS):
            try:
                with self.db.session() as session:
                    return self._allocate_once(session, subnet_id, device_id, device_owner, address, name,
                                               project_id)
            except IntegrityError as exc:
                # Another worker inserted the same address between our read and our insert: look again.
                last = exc
                LOG.debug("subnet=%s address race (attempt %d), retrying", subnet_id, attempt + 1)
            except OperationalError as exc:
                # MariaDB/PostgreSQL may pick one of two colliding transactions as a deadlock victim.
                if "deadlock" not in str(exc).lower():
                    raise
                last = exc
            time.sleep(0.005 * (attempt + 1))
        raise errors.Conflict(f"No address could be allocated in subnet {subnet_id} after {_ATTEMPTS} "
                              f"attempts: {last}")

    def _allocate_once(self, session: Session, subnet_id: str, device_id: str, device_owner: str,
                       address: str | None, name: str, project_id: str | None) -> Allocation:
        subnet = self._subnet(session, subnet_id)
        existing = session.scalars(select(Port).where(
            Port.subnet_id == subnet_id, Port.device_id == device_id, Port.device_owner == device_owner)).first()
        if existing is not None:
            return _allocation(existing, subnet)
        used = set(session.scalars(select(Port.ip_address).where(Port.subnet_id == subnet_id)))
        chosen = self._check_requested(subnet, address, used) if address else self._first_free(subnet, used)
        port_id = new_id()
        port = Port(id=port_id, name=name, network_id=subnet.network_id, subnet_id=subnet.id, ip_address=chosen,
                    mac_address=mac_for(port_id), device_id=device_id, device_owner=device_owner,
                    project_id=project_id)
        session.add(port)
        session.flush()  # the unique constraint speaks here, inside the retry loop
        return _allocation(port, subnet)

    def _check_requested(self, subnet: Subnet, address: str, used: set[str]) -> str:
        addr = _parse(address)
        net = ipaddress.ip_network(subnet.cidr)
        if addr not in net:
            raise errors.ValidationFailure(f"IP address {address} is not in subnet {subnet.id} ({subnet.cidr}).")
        if net.num_addresses > 2 and addr in (net.network_address, net.broadcast_address):
            raise errors.ValidationFailure(
                f"IP address {address} is the network or broadcast address of subnet {subnet.id}.")
        if addr in self.reserved:
            raise errors.ValidationFailure(f"IP address {address} is reserved ([networking] reserved_ips).")
        text = str(addr)
        if text in used or text == subnet.gateway_ip:
            raise errors.Conflict(f"IP address {text} already allocated in subnet {subnet.id}")
        return text

    def _first_free(self, subnet: Subnet, used: set[str]) -> str:
        skip = used | {str(a) for a in self.reserved}
        if subnet.gateway_ip:
            skip.add(subnet.gateway_ip)
        # hosts() already leaves out the network and broadcast addresses; the loop ends after at most
        # len(skip) + 1 steps unless the subnet is full.
        for addr in ipaddress.ip_network(subnet.cidr).hosts():
            if str(addr) not in skip:
                return str(addr)
        raise errors.Conflict(f"No more IP addresses available on subnet {subnet.id}.")

    # -- release ----------------------------------------------------------------------------------------------

    def release(self, device_id: str, device_owner: str | None = None,
                subnet_id: str | None = None) -> list[Allocation]:
        """Delete the matching ports (idempotent); returns what was deleted, so callers can unplug it."""
        gone = self.ports(device_id, device_owner, subnet_id)
        if gone:
            with self.db.session() as session:
                session.execute(delete(Port).where(Port.id.in_([a.port_id for a in gone])))
        return gone

    def release_port(self, port_id: str) -> None:
        with self.db.session() as session:
            session.execute(delete(Port).where(Port.id == port_id))

    def claim_port(self, port_id: str, device_id: str, device_owner: str) -> Allocation:
        """Give an unowned port (a `vip_port_id` the user brought) to a device; Conflict if someone has it."""
        with self.db.session() as session:
            port = session.get(Port, port_id)
            if port is None:
                raise errors.BadRequest(f"Port {port_id} not found.")
            if port.device_owner and (port.device_id, port.device_owner) != (device_id, device_owner):
                raise errors.Conflict(f"Port {port_id} is already in use.")
            port.device_id, port.device_owner = device_id, device_owner
            return _allocation(port, self._subnet(session, port.subnet_id))

    def disown_port(self, port_id: str) -> None:
        """Hand a claimed port back to its owner (the user) instead of deleting it."""
        with self.db.session() as session:
            port = session.get(Port, port_id)
            if port is not None:
                port.device_id, port.device_owner = "", ""

    @staticmethod
    def _subnet(session: Session, subnet_id: str) -> Subnet:
        subnet = session.get(Subnet, subnet_id)
        if subnet is None:
            raise errors.NotFound("Subnet", subnet_id)
        return subnet


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        raise errors.ValidationFailure(f"{address!r} is not a valid IP address.") from None
