"""Driver look-up by config name; only the composition root (`ostia.cli`) calls this."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
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


def _pick(family: str, name: str, table: dict[str, Callable[[], Any]]) -> Any:
    if name not in table:
        raise ValueError(f"[controller_worker] {family}_driver: unknown driver {name!r} "
                         f"(known: {', '.join(sorted(table))})")
    return table[name]()


def _network(conf: cfg.ConfigOpts, db: Database, name: str) -> NetworkDriver:
    def loopback() -> Any:
        from ostia.drivers.network.loopback import LoopbackNetworkDriver

        return LoopbackNetworkDriver(conf, db)

    def netns() -> Any:
        from ostia.drivers.network.netns import NetnsNetworkDriver

        return NetnsNetworkDriver(conf, db)

    return _pick("network", name, {"noop": lambda: noop.NoopNetworkDriver(conf.controller_worker.noop_task_delay),
                                   "loopback": loopback, "netns": netns})


def certificate_driver(conf: cfg.ConfigOpts) -> Any:
    from ostia.drivers.certificates.local_ca import LocalCertificateDriver

    return LocalCertificateDriver.from_conf(conf)


def cert_manager(conf: cfg.ConfigOpts, db: Database) -> Any:
    """The local store; with `[certificates] cert_manager = barbican_cert_manager` also Barbican, by ref form."""
    from ostia.drivers.cert_manager.local import LocalCertManager

    local = LocalCertManager(conf, db)
    name = conf.certificates.cert_manager
    if name == "local_cert_manager":
        return local
    from ostia.drivers.cert_manager.barbican import BarbicanCertManager
    from ostia.drivers.cert_manager.routing import RoutingCertManager

    return RoutingCertManager(local, BarbicanCertManager(conf))


def heartbeat_options(conf: cfg.ConfigOpts) -> dict[str, str]:
    """What every amphora's agent.conf says about heartbeats: where to send them, how often, the key."""
    hm = conf.health_manager
    targets = hm.controller_ip_port_list or [f"{hm.bind_ip}:{hm.bind_port}"]
    return {"controller_ip_port_list": ",".join(targets), "heartbeat_key": hm.heartbeat_key,
            "heartbeat_interval": str(hm.heartbeat_interval)}


def _compute(conf: cfg.ConfigOpts, db: Database, name: str, network: NetworkDriver) -> ComputeDriver:
    def local() -> Any:
        from ostia.drivers.compute.local import LocalComputeDriver

        prepare = getattr(network, "ensure_amphora_namespace", None)
        return LocalComputeDriver.from_conf(conf, certificate_driver(conf), db=db, prepare_namespace=prepare,
                                            agent_options={"amphora_agent": heartbeat_options(conf)})

    return _pick("compute", name, {"noop": lambda: noop.NoopComputeDriver(conf.controller_worker.noop_task_delay),
                                   "local": local})


def _amphora(conf: cfg.ConfigOpts, db: Database, name: str) -> AmphoraDriver:
    def agent() -> Any:
        from ostia.drivers.amphora.client import AgentClient
        from ostia.drivers.amphora.rest import RestAmphoraDriver
        from ostia.drivers.certificates.tls import ControllerTls

        tls = ControllerTls(certificate_driver(conf))  # follows CA rotations and client certificate renewals
        context = tls.refresh()
        assert context is not None
        ha = conf.haproxy_amphora
        client = AgentClient(context, ha.bind_port, refresh=tls.refresh,
                             connect_timeout=ha.rest_request_conn_timeout, read_timeout=ha.rest_request_read_timeout,
                             retries=ha.active_connection_max_retries,
                             retry_interval=ha.active_connection_retry_interval,
                             wait_interval=ha.connection_retry_interval)
        return RestAmphoraDriver(db, client, cert_manager(conf, db), ha.build_active_timeout)

    return _pick("amphora", name, {"noop": lambda: noop.NoopAmphoraDriver(conf.controller_worker.noop_task_delay),
                                   "agent": agent})


def build_drivers(conf: cfg.ConfigOpts, db: Database) -> Drivers:
    cw = conf.controller_worker
    network = _network(conf, db, cw.network_driver)
    compute = _compute(conf, db, cw.compute_driver, network)
    amphora = _amphora(conf, db, cw.amphora_driver)
    return Drivers(compute=compute, network=network, amphora=amphora)
