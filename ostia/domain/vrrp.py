"""Desired state of one amphora's keepalived (VRRP) for an ACTIVE_STANDBY load balancer (internals §6.2).

The worker builds a `VrrpSpec` per amphora (ostia/worker/tasks/vrrp.py), the amphora driver fills in the
amphora's own check-script path and ostia/render/keepalived.py turns it into keepalived.conf. No I/O here.

Timing choice (machine-notes §4, and tests/functional/test_vrrp_failover.py measures it again): VRRPv3 with a
0.2 s advertisement interval. A master that vanishes without a goodbye (SIGKILL, crash, cut link) is noticed
after 3 x advert_int + skew, about 0.7 s, instead of about 3.5 s with Octavia's VRRPv2 at 1 s; a graceful
stop moves the VIP in about 0.6 s instead of 1.15 s. VRRPv3 has no authentication, so the group carries no
password; VRRPv2's PASS authentication was only a guard against cross-talk anyway (the password travels in
clear in every advertisement), and with unicast VRRP each instance only accepts packets from its one peer
address and its own virtual router id. VRRPv2 with PASS stays available (version=2) for Octavia's layout.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from ostia.domain.enums import AmphoraRole

VIP_INTERFACE = "eth1"  # the agent names the VIP NIC so (ostia/agent/interfaces.py)
# Relative to the agent's base_path: the agent writes it, keepalived.conf names it with the base path
# the amphora reports in GET /info.
CHECK_SCRIPT = "vrrp/check_haproxy"

DEFAULT_VERSION = 3
DEFAULT_ADVERT_INT = 0.2


def vrrp_id_for(load_balancer_id: str) -> int:
    """A virtual router id (1..255) per load balancer, stable across failovers, no table needed.

    Load balancers on one VIP network use different ids (but for the 1/255 chance of a clash, harmless with
    unicast VRRP: an instance only accepts advertisements from its own peer's address).
    """
    digest = hashlib.sha256(f"ostia-vrrp-id/{load_balancer_id}".encode()).digest()
    return 1 + int.from_bytes(digest[:4], "big") % 255


def auth_pass_for(load_balancer_id: str) -> str:
    """VRRPv2 PASS authentication (at most 8 characters): derived from the id, stable across failovers.

    Not a secret (it is sent in clear in each advertisement); it keeps groups from adopting each other.
    """
    return hashlib.sha256(f"ostia-vrrp-pass/{load_balancer_id}".encode()).hexdigest()[:8]


def priority_for(role: str | None) -> int:
    """MASTER 100, anything else (BACKUP) 90: with nopreempt the numbers only decide the first election."""
    return 100 if role == AmphoraRole.MASTER else 90


@dataclass(frozen=True)
class VrrpSpec:
    """One vrrp_instance: the LB's VIPs, held by whichever of the two amphorae is MASTER."""

    load_balancer_id: str
    amphora_id: str
    vrrp_id: int
    priority: int
    src_ip: str  # this amphora's own (VRRP) address on the VIP network
    peer_ips: tuple[str, ...]  # the other amphora's
    vips: tuple[str, ...]  # "address/prefixlen" on `interface`
    interface: str = VIP_INTERFACE
    check_script: str = ""  # absolute path on the amphora; "" = no tracking (the driver fills it)
    version: int = DEFAULT_VERSION
    advert_int: float = DEFAULT_ADVERT_INT
    auth_pass: str | None = None  # VRRPv2 only
    check_interval: int = 1  # seconds between HAProxy checks; fall 2 → a dead HAProxy costs ~2-3 s
    check_timeout: int = 2
    check_fall: int = 2
    check_rise: int = 2
    garp_refresh: int = 5  # re-send gratuitous ARPs while MASTER, so switches and clients follow
    garp_refresh_repeat: int = 2

    @property
    def vrrp_vips(self) -> tuple[str, ...]:
        """The VIPs of the primary VIP's address family: a VRRP instance speaks one family."""
        return tuple(v for v in self.vips if _family(v) == _family(self.vips[0]))

    @property
    def excluded_vips(self) -> tuple[str, ...]:
        """Additional VIPs of the other family (IPv6 beside an IPv4 VIP): keepalived still moves them with the
        instance, from virtual_ipaddress_excluded, as Octavia's template does."""
        return tuple(v for v in self.vips if _family(v) != _family(self.vips[0]))

    @property
    def instance_name(self) -> str:
        return self.load_balancer_id.replace("-", "")


def _family(cidr: str) -> int:
    return ipaddress.ip_interface(cidr).version
