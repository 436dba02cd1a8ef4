"""Network drivers own VIP and member plumbing, and the addresses they hand out."""

from __future__ import annotations

import dataclasses
from typing import Protocol


@dataclasses.dataclass
class Vip:
    port_id: str
    address: str
    subnet_id: str | None
    network_id: str | None


@dataclasses.dataclass(frozen=True)
class PortPlug:
    """An interface the network driver attached to an amphora, as the agent's plug calls describe it.

    `mac_address` empty means there is no NIC to configure (the loopback driver: every 127.x address is
    already local), so the agent only records the addresses.
    """

    mac_address: str
    ip_address: str  # the amphora's own address on that subnet (the VRRP address for the VIP port)
    subnet_cidr: str
    gateway: str | None = None
    mtu: int = 1500
    subnet_id: str | None = None


class NetworkDriver(Protocol):
    accepts_unknown_subnets: bool

    def allocate_vip(self, load_balancer_id: str, subnet_id: str | None, network_id: str | None,
                     port_id: str | None, address: str | None) -> Vip:
        """Reserve the VIP (idempotent per load balancer); a requested address must be free and in the subnet."""

    def allocate_additional_vips(self, load_balancer_id: str, network_id: str | None,
                                 requests: list[tuple[str, str | None]]) -> list[Vip]:
        """Reserve one address per (subnet_id, address or None) on the VIP's network (idempotent per load
        balancer and subnet); deallocate_vip frees them with the VIP."""

    def deallocate_vip(self, load_balancer_id: str) -> None: ...

    def plug_vip(self, amphora_id: str, vip: Vip) -> PortPlug:
        """Attach the amphora to the VIP network (idempotent) and say what the agent must configure."""

    def unplug_vip(self, amphora_id: str, vip: Vip) -> None: ...

    def plug_member_networks(self, amphora_id: str, subnet_ids: list[str]) -> list[PortPlug]:
        """Attach the amphora to each member subnet it is not on yet (CalculateDelta + HandleNetworkDelta);
        returns every member-subnet interface it has afterwards. Subnets the VIP is on need no second NIC."""

    def release_amphora(self, amphora_id: str) -> None:
        """Free every port and interface of a deleted amphora (idempotent)."""
