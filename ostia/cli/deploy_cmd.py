"""`ostia deploy`: the production layout on this machine from one config file.

    ostia --config-file /etc/ostia/production.conf deploy

migrates the database once (`ostia db upgrade`), then runs, each as its own supervised process (see
ostia/deploy/supervisor.py): one `ostia api` per [deploy] api_bind_ports, [deploy] workers `ostia worker`s, one
`ostia health-manager` per [deploy] health_managers address (default: every entry of [health_manager]
controller_ip_port_list) and, with [deploy] housekeeping, `ostia housekeeping`. Every child reads the same
config files and `--set` overrides as this command, plus the few options that tell it apart (its port).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ostia.deploy.supervisor import AlreadyRunning, Policy, Service, Supervisor

LOG = logging.getLogger("ostia.deploy")
UPGRADE_TIMEOUT = 300.0


def ostia_command() -> list[str]:
    script = Path(sys.executable).with_name("ostia")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "ostia.cli.main"]


def common_args(args: argparse.Namespace) -> list[str]:
    """What this command was given, for every child: config files, state dir, overrides."""
    argv = [a for f in args.config_file for a in ("--config-file", f)]
    if args.state_dir:
        argv += ["--state-dir", args.state_dir]
    argv += [a for s in args.set or [] for a in ("--set", s)]
    return argv


def _split(target: str) -> tuple[str, str]:
    host, _, port = target.strip().rpartition(":")
    return host.strip("[]"), port


def _metrics_bind(bind: str, group: str, i: int) -> list[str]:
    """The i-th process of a kind gets the configured metrics port + i - 1: one shared host:port would make
    every process after the first fail to bind (and be restarted for ever)."""
    if not bind:
        return []
    host, _, port = bind.rpartition(":")
    return ["--set", f"{group}.metrics_bind={host}:{int(port) + i - 1}"]


def housekeeping_available() -> bool:
    # `ostia housekeeping` is being built alongside (ostia/cli/housekeeping_cmd.py); until it is there the
    # deployment runs without it and says so.
    return importlib.util.find_spec("ostia.cli.housekeeping_cmd") is not None


def services(conf: Any, base: list[str]) -> list[Service]:
    d = conf.deploy
    out = [Service(f"api-{i}", [*base, "--set", f"api_settings.bind_port={port}", "api"])
           for i, port in enumerate(d.api_bind_ports, 1)]
    out += [Service(f"worker-{i}", [*base, *_metrics_bind(conf.controller_worker.metrics_bind,
                                                          "controller_worker", i), "worker"])
            for i in range(1, d.workers + 1)]
    hms = d.health_managers or conf.health_manager.controller_ip_port_list
    for i, target in enumerate(hms, 1):
        host, port = _split(target)
        out.append(Service(f"health-manager-{i}", [*base, "--set", f"health_manager.bind_ip={host}",
                                                   "--set", f"health_manager.bind_port={port}",
                                                   *_metrics_bind(conf.health_manager.metrics_bind,
                                                                  "health_manager", i), "health-manager"]))
    if d.housekeeping:
        if housekeeping_available():
            out.append(Service("housekeeping", [*base, "housekeeping"]))
        else:
            LOG.warning("`ostia housekeeping` is not available in this version: running without it")
    return out


def check(conf: Any) -> str | None:
    """Why this config cannot run the production layout (None: it can)."""
    if not conf.transport_url:
        return "set [DEFAULT] transport_url (RabbitMQ): separate services hand jobs over it"
    if not conf.database.connection or conf.database.connection.startswith("sqlite"):
        return "set [database] connection to PostgreSQL or MariaDB: SQLite is for `ostia up` only"
    if not (conf.deploy.health_managers or conf.health_manager.controller_ip_port_list):
        return "set [health_manager] controller_ip_port_list: the amphorae send heartbeats there"
    return None


def run(args: argparse.Namespace, load_conf: Callable[[argparse.Namespace], Any]) -> int:
    conf = load_conf(args)
    problem = check(conf)
    if problem:
        print(f"ostia deploy: {problem}", file=sys.stderr)
        return 2
    base = [*ostia_command(), *common_args(args)]
    # Once, before anything starts: the services refuse a schema that is not current and never migrate it.
    upgrade = subprocess.run([*base, "db", "upgrade"], capture_output=True, text=True, timeout=UPGRADE_TIMEOUT,
                             check=False)
    if upgrade.returncode != 0:
        print(f"ostia deploy: `ostia db upgrade` failed:\n{upgrade.stdout}{upgrade.stderr}", file=sys.stderr)
        return 1
    d = conf.deploy
    state = Path(conf.state_dir).absolute()
    supervisor = Supervisor(services(conf, base), Path(d.log_dir or state / "logs"), Path(d.run_dir or state / "run"),
                            Policy(d.restart_delay, d.restart_delay_max, d.stable_seconds, d.stop_timeout))
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stop())
    signal.signal(signal.SIGINT, lambda *_: supervisor.stop())
    print(f"ostia deploy: {', '.join(s.name for s in supervisor.services)} (logs in {supervisor.log_dir}, "
          f"pids in {supervisor.run_dir})", flush=True)
    try:
        supervisor.run()
    except AlreadyRunning as exc:
        print(f"ostia deploy: {exc}", file=sys.stderr)
        return 1
    return 0


def add_parser(sub: Any, load_conf: Callable[[argparse.Namespace], Any]) -> None:
    sub.add_parser("deploy", help="the production layout on this machine: APIs, workers, health managers, "
                                  "housekeeping as supervised processes").set_defaults(
        func=lambda args: run(args, load_conf))
