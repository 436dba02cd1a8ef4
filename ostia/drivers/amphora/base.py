"""Amphora drivers push configuration to amphorae (the agent client)."""

from __future__ import annotations

from typing import Any, Protocol

from ostia.domain.vrrp import VrrpSpec
from ostia.drivers.network.base import PortPlug


class AmphoraDriver(Protocol):
    def update(self, load_balancer_id: str, amphora_ids: list[str]) -> None:
        """Render the load balancer's desired state and apply it on each amphora (certificates, haproxy.cfg,
        UDP listeners), then start or reload what serves it."""

    def remove(self, load_balancer_id: str, amphora_ids: list[str]) -> None:
        """Stop serving the load balancer on these amphorae."""

    def wait_ready(self, amphora_id: str) -> None:
        """Block until the amphora's agent answers (bounded; raises when it never does)."""

    def post_vip_plug(self, amphora_id: str, vip_address: str, plug: PortPlug,
                      additional_vips: tuple[PortPlug, ...] = ()) -> None:
        """Tell the agent to configure the VIP interface (POST /plug/vip); `additional_vips` are the load
        balancer's further VIPs on the same NIC (their ip_address is the VIP, subnet_cidr its subnet's)."""

    def post_network_plug(self, amphora_id: str, plug: PortPlug) -> None:
        """Tell the agent to configure a member-network interface (POST /plug/network)."""

    def update_vrrp(self, amphora_id: str, config: VrrpSpec) -> None:
        """Render keepalived.conf for this amphora (its own paths filled in) and upload it (PUT /vrrp/upload)."""

    def start_vrrp(self, amphora_id: str) -> None:
        """Start keepalived on the amphora, or reload it when it runs (PUT /vrrp/start); idempotent."""

    def vrrp_status(self, amphora_id: str) -> dict[str, Any] | None:
        """{"keepalived_running": bool, "vips_held": [cidr, ...]} from the agent; None when it does not answer."""

    def forget(self, amphora_id: str) -> None:
        """Drop what the driver remembers of a deleted amphora (its address, its paths)."""
