"""VIP and member NICs: find them by MAC inside the amphora's namespace, name, address and bring them up.

Every command runs with `ip -n <namespace>` (or `ip netns exec`), never against the host's interfaces.
With the loopback driver (mac_address "") there is nothing to plug: 127.x addresses are local already, so the
plug is only recorded, which lets GET /interface/{ip} answer "lo" for it.

ACTIVE_STANDBY: the VIPs are keepalived's to add and remove, so a VIP plug configures only the amphora's own
(VRRP) address and records the VIPs beside it; `drop_vips()` takes them off again where keepalived is gone
but left them behind (a SIGKILLed keepalived does not clean up, and two amphorae answering for the VIP would
split the clients between a live HAProxy and a dead one).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from ostia.agent import garp, procs
from ostia.agent.errors import AgentError
from ostia.agent.settings import AgentSettings
from ostia.files import write_private

LOG = logging.getLogger(__name__)
VIP_INTERFACE = "eth1"
NO_NIC = "No suitable network interface found"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Route:
    destination: IPNetwork
    nexthop: IPAddress


@dataclass(frozen=True)
class FixedIp:
    address: IPAddress
    network: IPNetwork
    gateway: IPAddress | None = None
    host_routes: tuple[Route, ...] = ()

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.network.prefixlen}"


@dataclass(frozen=True)
class Plug:
    """One NIC to configure: which MAC, the addresses it gets, and (VIP only) the default gateway."""

    kind: str  # "vip" | "network"
    mac: str
    addresses: tuple[FixedIp, ...]
    mtu: int | None = None
    gateway: IPAddress | None = None
    host_routes: tuple[Route, ...] = field(default_factory=tuple)
    vips: tuple[FixedIp, ...] = ()  # ACTIVE_STANDBY: keepalived adds these; only recorded here


class Interfaces:
    def __init__(self, settings: AgentSettings) -> None:
        self.s = settings
        self._lock = threading.Lock()

    # -- plugging ------------------------------------------------------------------------------------------

    def plug(self, plug: Plug) -> str:
        with self._lock:
            if not plug.mac:
                self._record(plug, "lo")
                return f"{plug.kind} addresses recorded (loopback, nothing to plug)"
            ns = self.s.network_namespace
            if not ns:
                raise AgentError(404, NO_NIC, "this amphora has no network namespace to plug into")
            links = self._links()
            name = next((ln["ifname"] for ln in links if ln.get("address", "").lower() == plug.mac.lower()), None)
            if name is None:
                raise AgentError(404, NO_NIC, f"no interface with MAC {plug.mac} in namespace {ns}")
            target = self._target_name(plug, name, {ln["ifname"] for ln in links})
            if name != target:
                self._ip("link", "set", "dev", name, "down")
                self._ip("link", "set", "dev", name, "name", target)
            if plug.mtu:
                self._ip("link", "set", "dev", target, "mtu", str(plug.mtu))
            for fixed in plug.addresses:
                extra = ["nodad"] if fixed.address.version == 6 else []  # usable at once, no DAD delay
                self._ip("addr", "replace", fixed.cidr, "dev", target, *extra)
            self._ip("link", "set", "dev", "lo", "up")
            self._ip("link", "set", "dev", target, "up")
            for route in plug.host_routes:
                self._ip("route", "replace", str(route.destination), "via", str(route.nexthop), "dev", target)
            if plug.gateway is not None:
                self._ip("route", "replace", "default", "via", str(plug.gateway), "dev", target)
            if plug.kind == "vip":
                self._allow_nonlocal_bind()
                if not plug.vips:  # SINGLE: the VIPs are ours now; tell the clients' ARP caches (new MAC)
                    garp.announce(ns, target, plug.mac, [str(f.address) for f in plug.addresses])
            self._record(plug, target)
            LOG.info("amp=%s plugged %s %s as %s: %s", self.s.amphora_id, plug.kind, plug.mac, target,
                     [f.cidr for f in plug.addresses])
            return f"{plug.kind} plugged on interface {target}: " + ", ".join(f.cidr for f in plug.addresses)

    def _target_name(self, plug: Plug, current: str, taken: set[str]) -> str:
        if plug.kind == "vip":
            if current != VIP_INTERFACE and VIP_INTERFACE in taken:
                raise AgentError(409, "Interface already exists", f"{VIP_INTERFACE} is another NIC")
            return VIP_INTERFACE
        if current.startswith("eth") and current[3:].isdigit() and int(current[3:]) >= 2:
            return current  # plugged before: keep its name (idempotent re-plug)
        n = 2
        while f"eth{n}" in taken:
            n += 1
        return f"eth{n}"

    def _allow_nonlocal_bind(self) -> None:
        # Inside the namespace only: HAProxy must bind the VIP even while keepalived holds it on the peer.
        res = procs.run(["sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1"], self.s.command_timeout,
                        self.s.network_namespace)
        if not res.ok:
            raise AgentError(500, "Error plugging VIP", res.output)
        # IPv6 equivalent; older kernels lack it, which only matters for IPv6 VIPs.
        procs.run(["sysctl", "-q", "-w", "net.ipv6.ip_nonlocal_bind=1"], self.s.command_timeout,
                  self.s.network_namespace)

    def drop_vips(self) -> list[str]:
        """Remove every recorded keepalived-owned VIP from its interface; the caller knows keepalived is not
        running. Returns what was removed."""
        removed = []
        with self._lock:
            for dev, cidr in self._present_vips():
                self._ip("addr", "del", cidr, "dev", dev)
                removed.append(cidr)
        if removed:
            LOG.warning("amp=%s keepalived is not running: removed left-over VIPs %s", self.s.amphora_id, removed)
        return removed

    def held_vips(self) -> list[str]:
        """The recorded keepalived-owned VIPs (CIDRs) configured on their interface right now."""
        with self._lock:
            return [cidr for _, cidr in self._present_vips()]

    def _present_vips(self) -> list[tuple[str, str]]:
        if not self.s.network_namespace:
            return []
        present = {(str(link["ifname"]), str(info.get("local"))) for link in
                   json.loads(self._ip("-j", "addr", "show") or "[]") for info in link.get("addr_info", [])}
        return [(str(rec.get("interface", "")), cidr) for rec in self.records() for cidr in rec.get("vips", [])
                if (str(rec.get("interface", "")), cidr.split("/")[0]) in present]

    # -- lookups -------------------------------------------------------------------------------------------

    def find(self, ip: IPAddress) -> str | None:
        if self.s.network_namespace:
            out = self._ip("-j", "addr", "show")
            for link in json.loads(out or "[]"):
                for info in link.get("addr_info", []):
                    if _same_ip(info.get("local"), ip):
                        return str(link["ifname"])
        for rec in self.records():
            if any(_same_ip(a.split("/")[0], ip) for a in rec.get("addresses", [])):
                return str(rec["interface"])
        return None

    def records(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.s.plugged_file.read_text())
        except (OSError, ValueError):
            return []
        return list(data.get("interfaces", [])) if isinstance(data, dict) else []

    def _record(self, plug: Plug, interface: str) -> None:
        entry = {"kind": plug.kind, "mac": plug.mac, "interface": interface,
                 "addresses": [f.cidr for f in plug.addresses], "mtu": plug.mtu}
        if plug.vips:
            entry["vips"] = [f.cidr for f in plug.vips]
        # One entry per MAC; loopback plugs (no MAC) are kept unless identical, so re-plugging is idempotent.
        records = [r for r in self.records() if (r.get("mac") != plug.mac if plug.mac else r != entry)]
        records.append(entry)
        write_private(self.s.plugged_file, json.dumps({"interfaces": records}, indent=1).encode())

    def _links(self) -> list[dict[str, Any]]:
        return list(json.loads(self._ip("-j", "link", "show") or "[]"))

    def _ip(self, *args: str) -> str:
        res = procs.run(["ip", "-n", self.s.network_namespace, *args], self.s.command_timeout)
        if not res.ok:
            raise AgentError(500, "Error plugging interface", f"ip {' '.join(args)}: {res.output}")
        return res.output


def _same_ip(text: object, ip: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(str(text)) == ip
    except ValueError:
        return False
