"""What the loopback and netns drivers share: VIP allocation from the networks seeded in the database."""

from __future__ import annotations

from oslo_config import cfg
from sqlalchemy import select

from ostia.db.engine import Database
from ostia.db.models import Amphora, LoadBalancer, Subnet
from ostia.domain import errors
from ostia.drivers.network.base import PortPlug, Vip
from ostia.drivers.network.ipam import OWNER_VIP, Allocation, Ipam


def vip_port_name(load_balancer_id: str) -> str:
    # Ports we create carry this name; a port the user brought keeps its own, so we give it back, not delete it.
    return f"ostia-lb-{load_balancer_id}"


def to_vip(alloc: Allocation) -> Vip:
    return Vip(port_id=alloc.port_id, address=alloc.ip_address, subnet_id=alloc.subnet_id,
               network_id=alloc.network_id)


def to_plug(alloc: Allocation, mac_address: str) -> PortPlug:
    return PortPlug(mac_address=mac_address, ip_address=alloc.ip_address, subnet_cidr=alloc.cidr,
                    gateway=alloc.gateway, subnet_id=alloc.subnet_id)


class LocalNetworkDriver:
    """Base of the drivers whose networks are rows of our own database (no Neutron)."""

    accepts_unknown_subnets = False

    def __init__(self, conf: cfg.ConfigOpts, db: Database) -> None:
        self.conf = conf
        self.db = db
        self.ipam = Ipam(db, conf.networking.reserved_ips)

    def allocate_vip(self, load_balancer_id: str, subnet_id: str | None, network_id: str | None,
                     port_id: str | None, address: str | None) -> Vip:
        mine = self.ipam.ports(load_balancer_id, OWNER_VIP)
        # Additional VIPs are OWNER_VIP ports too: a resumed flow's VIP is the one on the requested port/subnet.
        if port_id:
            mine = [a for a in mine if a.port_id == port_id]
        elif subnet_id:
            mine = [a for a in mine if a.subnet_id == subnet_id]
        if mine:  # a resumed flow: the VIP it already has
            return to_vip(mine[0])
        if port_id:
            alloc = self.ipam.claim_port(port_id, load_balancer_id, OWNER_VIP)
            if address and address != alloc.ip_address:
                self.ipam.disown_port(port_id)
                raise errors.ValidationFailure(f"VIP address {address} is not the address of port {port_id}.")
            return to_vip(alloc)
        subnet = self._vip_subnet(subnet_id, network_id, address)
        self.check_subnet(subnet.id, subnet.cidr)
        return to_vip(self.ipam.allocate(subnet.id, load_balancer_id, OWNER_VIP, address,
                                         name=vip_port_name(load_balancer_id)))

    def allocate_additional_vips(self, load_balancer_id: str, network_id: str | None,
                                 requests: list[tuple[str, str | None]]) -> list[Vip]:
        out = []
        for subnet_id, address in requests:
            subnet = self.ipam.subnet(subnet_id)
            if network_id and subnet.network_id != network_id:
                raise errors.VipSubnetsNotOnOneNetwork()
            self.check_subnet(subnet.id, subnet.cidr)
            out.append(to_vip(self.ipam.allocate(subnet.id, load_balancer_id, OWNER_VIP, address,
                                                 name=vip_port_name(load_balancer_id))))
        return out

    def deallocate_vip(self, load_balancer_id: str) -> None:
        for alloc in self.ipam.ports(load_balancer_id, OWNER_VIP):
            if alloc.name == vip_port_name(load_balancer_id):
                self.ipam.release_port(alloc.port_id)
            else:
                self.ipam.disown_port(alloc.port_id)

    def _vip_subnet(self, subnet_id: str | None, network_id: str | None, address: str | None) -> Subnet:
        if subnet_id:
            subnet = self.ipam.subnet(subnet_id)
            if network_id and network_id != subnet.network_id:
                raise errors.ValidationFailure(f"Subnet {subnet_id} is not on network {network_id}.")
            return subnet
        if network_id:
            subnets = self.ipam.subnets_of_network(network_id)
            if not subnets:
                raise errors.ValidationFailure(f"Supplied network {network_id} has no subnets.")
            if not address:
                return subnets[0]
            found = self.ipam.subnet_containing(address)
            if found is None or found.network_id != network_id:
                raise errors.ValidationFailure(
                    f"Unable to find a subnet on network {network_id} for VIP address {address}.")
            return found
        if address:
            found = self.ipam.subnet_containing(address)
            if found is None:
                raise errors.ValidationFailure(f"VIP address {address} is not in any subnet.")
            return found
        raise errors.ValidationFailure("VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")

    def known_subnets(self, subnet_ids: list[str]) -> list[str]:
        """Our subnets among `subnet_ids`, in order, without repeats; unknown ids are ignored."""
        out: list[str] = []
        for sid in dict.fromkeys(subnet_ids):
            try:
                subnet = self.ipam.subnet(sid)
            except errors.NotFound:
                continue
            self.check_subnet(subnet.id, subnet.cidr)
            out.append(sid)
        return out

    def check_subnet(self, subnet_id: str, cidr: str) -> None:
        """Refuse a subnet this driver cannot serve (the netns driver only plugs 198.18.0.0/15)."""

    def vip_subnet_of(self, amphora_id: str) -> str | None:
        """The VIP subnet of the amphora's load balancer: member plugs never add a second NIC there."""
        with self.db.session() as session:
            return session.scalars(select(LoadBalancer.vip_subnet_id).join(
                Amphora, Amphora.load_balancer_id == LoadBalancer.id).where(Amphora.id == amphora_id)).first()
