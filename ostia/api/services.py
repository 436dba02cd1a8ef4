"""What the API needs from the rest of the system, handed in by the composition root (`ostia.cli`)."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from oslo_config import cfg

from ostia.api.policy import Policy
from ostia.db.engine import Database
from ostia.db.repositories.networks import VipAllocator
from ostia.domain.secrets import CertManager, NoCertManager


class Dispatcher(Protocol):
    def dispatch(self, job_id: str) -> None: ...


@dataclasses.dataclass
class ApiServices:
    conf: cfg.ConfigOpts
    db: Database
    dispatcher: Dispatcher
    policy: Policy
    # The noop network driver accepts any subnet/network/port UUID, as Octavia's does; real drivers only
    # their own (rows of network/subnet/port).
    network_accepts_unknown: bool = True
    # Resolves listener/pool TLS container refs; without one (tests that do not care) no ref resolves.
    cert_manager: CertManager = dataclasses.field(default_factory=NoCertManager)
    # Reserves the VIP while the create call runs, so its answer carries vip_address like Octavia's (whose API
    # creates the VIP port); without one the worker's first task allocates it.
    vip_allocator: VipAllocator | None = None
    # ACTIVE_STANDBY needs VRRP between real interfaces; the loopback network driver has none.
    active_standby: bool = True
