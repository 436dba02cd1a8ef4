"""Compute drivers decide where an amphora runs (local processes, Nova, ...)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Protocol


@dataclasses.dataclass(frozen=True)
class ComputeInstance:
    compute_id: str
    lb_network_ip: str | None  # where the controller reaches the amphora's agent (None: no agent, noop)
    # When the agent's server certificate expires (naive UTC, as the DB keeps it); recorded at build, as
    # Octavia does, so housekeeping's first pass does not re-issue every new amphora's certificate.
    cert_expiration: dt.datetime | None = None


class ComputeDriver(Protocol):
    def build(self, amphora_id: str, load_balancer_id: str | None) -> ComputeInstance:
        """Start an amphora (its agent with a server certificate for `amphora_id`); idempotent per amphora."""

    def delete(self, compute_id: str) -> None:
        """Stop and remove it with everything it runs; deleting one that is gone is not an error."""

    def status(self, compute_id: str) -> str:
        """ACTIVE, BUILDING, ERROR or DELETED."""
