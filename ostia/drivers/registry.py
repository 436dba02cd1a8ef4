"""Driver look-up by config name; only the composition root (`ostia.cli`) calls this."""

from __future__ import annotations

import dataclasses
from typing import Any

from oslo_config import cfg

from ostia.db.engine import Database
from ostia.drivers import noop
from ostia.drivers.amphora.base import AmphoraDriver
from ostia.drivers.compute.base import ComputeDriver
from ostia.drivers.network.base import NetworkDriver


@dataclasses.dataclass
class Drivers:
    compute: ComputeDriver
    network: NetworkDriver
    amphora: AmphoraDriver


def _pick(family: str, name: str, table: dict[str, Any]) -> Any:
    if name not in table:
        raise ValueError(f"[controller_worker] {family}_driver: unknown driver {name!r} "
                         f"(known: {', '.join(sorted(table))})")
    return table[name]


def build_drivers(conf: cfg.ConfigOpts, db: Database) -> Drivers:
    cw = conf.controller_worker
    delay = cw.noop_task_delay
    compute = _pick("compute", cw.compute_driver, {"noop": lambda: noop.NoopComputeDriver(delay)})()
    network = _pick("network", cw.network_driver, {"noop": lambda: noop.NoopNetworkDriver(delay)})()
    amphora = _pick("amphora", cw.amphora_driver, {"noop": lambda: noop.NoopAmphoraDriver(delay)})()
    return Drivers(compute=compute, network=network, amphora=amphora)
