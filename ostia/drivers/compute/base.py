"""Compute drivers decide where an amphora runs (local processes, Nova, ...)."""

from __future__ import annotations

from typing import Protocol


class ComputeDriver(Protocol):
    def build(self, amphora_id: str, load_balancer_id: str) -> str:
        """Start an amphora; returns its compute id."""

    def delete(self, compute_id: str) -> None:
        """Stop and remove it; deleting one that is gone is not an error."""

    def status(self, compute_id: str) -> str:
        """ACTIVE, BUILDING, ERROR or DELETED."""
