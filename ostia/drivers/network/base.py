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


class NetworkDriver(Protocol):
    accepts_unknown_subnets: bool

    def allocate_vip(self, load_balancer_id: str, subnet_id: str | None, network_id: str | None,
                     port_id: str | None, address: str | None) -> Vip:
        """Reserve the VIP (idempotent per load balancer)."""

    def deallocate_vip(self, load_balancer_id: str) -> None: ...

    def plug_vip(self, amphora_id: str, vip: Vip) -> None: ...

    def unplug_vip(self, amphora_id: str, vip: Vip) -> None: ...

    def plug_member_networks(self, amphora_id: str, subnet_ids: list[str]) -> None: ...
