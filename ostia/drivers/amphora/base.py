"""Amphora drivers push configuration to amphorae (the agent client)."""

from __future__ import annotations

from typing import Protocol


class AmphoraDriver(Protocol):
    def update(self, load_balancer_id: str, amphora_ids: list[str]) -> None:
        """Render the load balancer's desired state and apply it on each amphora."""

    def remove(self, load_balancer_id: str, amphora_ids: list[str]) -> None:
        """Stop serving the load balancer on these amphorae."""

    def wait_ready(self, amphora_id: str) -> None:
        """Block until the amphora's agent answers."""
