"""The netns network driver (root): amphorae in their own network namespaces on bridged 198.18.0.0/15 networks.

Topology (machine-notes §2):
    <prefix>-fabric          one Linux bridge per Ostia network, named b<8 hex of the network id>
    <prefix>-amp-<12 hex>    one per amphora; each port is a veth whose fabric end v<8 hex of the port id>
                             sits on the bridge and whose peer p<8 hex> is created straight inside the
                             amphora namespace with the port's MAC (the agent finds it by MAC, renames it)
    <prefix>-host-<name>     test hosts (clients, members) with one NIC, eth0, already addressed
The host namespace never gets an interface, address or route, so nothing here can leak out of eth0.
Every step checks before it acts, so a resumed flow can run it again.
"""

from __future__ import annotations

import ipaddress
import logging
import re

from oslo_config import cfg

from ostia.db.engine import Database
from ostia.db.repositories.networks import parse_spec
from ostia.domain import errors
from ostia.drivers.network import iproute
from ostia.drivers.network.base import PortPlug, Vip
from ostia.drivers.network.ipam import OWNER_HOST, OWNER_MEMBER, OWNER_VRRP, Allocation
from ostia.drivers.network.local import LocalNetworkDriver, to_plug

LOG = logging.getLogger(__name__)

FABRIC_RANGE = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range: never routed for real
_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9_.]{0,19}$")  # dashes separate prefix and kind in namespace names
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def _hex(ident: str, n: int) -> str:
    return ident.replace("-", "").lower()[:n]


def bridge_name(network_id: str) -> str:
    return f"b{_hex(network_id, 8)}"


def fabric_end(port_id: str) -> str:
    return f"v{_hex(port_id, 8)}"


def peer_name(port_id: str) -> str:
    return f"p{_hex(port_id, 8)}"


class NetnsNetworkDriver(LocalNetworkDriver):
    def __init__(self, conf: cfg.ConfigOpts, db: Database) -> None:
        super().__init__(conf, db)
        self.prefix = conf.networking.netns_prefix
        if not _PREFIX_RE.match(self.prefix):
            raise ValueError(f"[networking] netns_prefix {self.prefix!r}: use 1-20 of a-z, 0-9, '_' and '.' "
                             "(it starts every namespace name)")
        for spec in conf.networking.networks:
            _, sub_name, cidr = parse_spec(spec)
            if not ipaddress.ip_network(cidr).subnet_of(FABRIC_RANGE):  # type: ignore[arg-type]
                raise ValueError(f"[networking] networks: {sub_name} is {cidr}, but the netns driver only serves "
                                 f"subnets of {FABRIC_RANGE} (the host routes anything else out of eth0)")
        self.fabric = f"{self.prefix}-fabric"

    # -- namespaces -------------------------------------------------------------------------------------------

    def namespace_for(self, amphora_id: str) -> str:
        return f"{self.prefix}-amp-{_hex(amphora_id, 12)}"

    def ensure_amphora_namespace(self, amphora_id: str) -> str:
        """The amphora's namespace, created if missing (the compute driver calls this before the agent starts)."""
        ns = self.namespace_for(amphora_id)
        iproute.ensure_namespace(ns)
        # The standby amphora's HAProxy must bind the VIP keepalived has not given it yet (machine-notes §4).
        iproute.set_sysctl(ns, "net.ipv4.ip_nonlocal_bind", "1")
        return ns

    def check_subnet(self, subnet_id: str, cidr: str) -> None:
        if not ipaddress.ip_network(cidr).subnet_of(FABRIC_RANGE):  # type: ignore[arg-type]
            raise errors.ValidationFailure(
                f"Subnet {subnet_id} ({cidr}) is outside {FABRIC_RANGE}; the netns driver cannot plug it.")

    # -- NetworkDriver ----------------------------------------------------------------------------------------

    def plug_vip(self, amphora_id: str, vip: Vip) -> PortPlug:
        if not vip.subnet_id:
            raise errors.ValidationFailure(f"VIP {vip.address} of amphora {amphora_id} has no subnet.")
        subnet = self.ipam.subnet(vip.subnet_id)
        self.check_subnet(subnet.id, subnet.cidr)
        ns = self.ensure_amphora_namespace(amphora_id)
        alloc = self.ipam.allocate(subnet.id, amphora_id, OWNER_VRRP, name=f"ostia-vrrp-{amphora_id}")
        self._wire(alloc, ns, peer_name(alloc.port_id))
        LOG.info("amp=%s VIP subnet %s plugged: %s %s", amphora_id, subnet.id, alloc.ip_address, alloc.mac_address)
        return to_plug(alloc, alloc.mac_address)

    def unplug_vip(self, amphora_id: str, vip: Vip) -> None:
        for alloc in self.ipam.ports(amphora_id, OWNER_VRRP, vip.subnet_id):
            iproute.delete_link(self.fabric, fabric_end(alloc.port_id))
            self.ipam.release_port(alloc.port_id)

    def plug_member_networks(self, amphora_id: str, subnet_ids: list[str]) -> list[PortPlug]:
        wanted = self.known_subnets(subnet_ids)
        if wanted:
            skip = {a.subnet_id for a in self.ipam.ports(amphora_id, OWNER_VRRP)}
            vip_subnet = self.vip_subnet_of(amphora_id)
            if vip_subnet:
                skip.add(vip_subnet)
            ns = self.ensure_amphora_namespace(amphora_id)
            for sid in wanted:
                if sid not in skip:
                    alloc = self.ipam.allocate(sid, amphora_id, OWNER_MEMBER, name=f"ostia-member-{amphora_id}")
                    self._wire(alloc, ns, peer_name(alloc.port_id))
        return [to_plug(a, a.mac_address) for a in self.ipam.ports(amphora_id, OWNER_MEMBER)]

    def release_amphora(self, amphora_id: str) -> None:
        for alloc in self.ipam.ports(amphora_id):
            iproute.delete_link(self.fabric, fabric_end(alloc.port_id))
            self.ipam.release_port(alloc.port_id)
        iproute.delete_namespace(self.namespace_for(amphora_id))

    # -- test hosts -------------------------------------------------------------------------------------------

    def host_namespace(self, name: str) -> str:
        return f"{self.prefix}-host-{name}"

    def attach_host(self, name: str, subnet_id: str, address: str | None = None) -> tuple[str, str]:
        """A namespace with one addressed NIC (eth0) on the subnet's network: a client or a member server."""
        if not _NAME_RE.match(name):
            raise ValueError(f"host name {name!r}: use letters, digits, '_', '.', '-' (at most 40)")
        subnet = self.ipam.subnet(subnet_id)
        self.check_subnet(subnet.id, subnet.cidr)
        ns = self.host_namespace(name)
        iproute.ensure_namespace(ns)
        alloc = self.ipam.allocate(subnet.id, ns, OWNER_HOST, address, name=f"ostia-host-{name}")
        self._wire(alloc, ns, "eth0")
        prefixlen = ipaddress.ip_network(alloc.cidr).prefixlen
        iproute.ip("-n", ns, "addr", "replace", f"{alloc.ip_address}/{prefixlen}", "dev", "eth0")
        iproute.ip("-n", ns, "link", "set", "dev", "eth0", "up")
        return ns, alloc.ip_address

    def detach_host(self, name: str) -> None:
        ns = self.host_namespace(name)
        for alloc in self.ipam.ports(ns, OWNER_HOST):
            iproute.delete_link(self.fabric, fabric_end(alloc.port_id))
            self.ipam.release_port(alloc.port_id)
        iproute.delete_namespace(ns)

    def teardown(self) -> None:
        """Delete every namespace of this prefix (tests' cleanup); their veths and bridges go with them."""
        for ns in iproute.namespaces():
            if ns.startswith(f"{self.prefix}-"):
                iproute.delete_namespace(ns)

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _wire(self, alloc: Allocation, ns: str, peer: str) -> None:
        iproute.ensure_namespace(self.fabric)
        bridge = bridge_name(alloc.network_id)
        iproute.ensure_bridge(self.fabric, bridge)
        iproute.ensure_veth(self.fabric, fabric_end(alloc.port_id), bridge, ns, peer, alloc.mac_address)
