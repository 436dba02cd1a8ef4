"""`ostia` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import warnings
from typing import Any

from ostia import conf as conf_mod


def _conf(args: argparse.Namespace) -> Any:
    overrides: dict[str, dict[str, object]] = {}
    if args.state_dir:
        overrides.setdefault("DEFAULT", {})["state_dir"] = args.state_dir
    for item in args.set or []:
        key, _, value = item.partition("=")
        group, _, name = key.rpartition(".")
        overrides.setdefault(group or "DEFAULT", {})[name] = value
    return conf_mod.load(args.config_file, overrides)


SERVICES = ("up", "api", "worker", "agent", "health-manager", "deploy", "housekeeping")


def _logging(verbose: bool, service: bool) -> None:
    # Services log what they do; one-shot commands only print their result (and warnings).
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO if service else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # oslo.service imports eventlet, which warns on import; Ostia never monkey-patches or uses it.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    for noisy in ("stevedore", "taskflow", "oslo_policy", "amqp", "kombu", "oslo.messaging", "alembic",
                  "oslo_service"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _serve(conf: Any, app: Any) -> None:
    import uvicorn

    uvicorn.run(app, host=conf.api_settings.bind_host, port=conf.api_settings.bind_port, log_level="warning",
                access_log=False, lifespan="off")


def cmd_up(args: argparse.Namespace) -> int:
    from ostia.cli import bootstrap

    conf = _conf(args)
    ctl = bootstrap.all_in_one(conf)
    assert ctl.worker is not None
    ctl.worker.start()
    ctl.worker.sweep()  # jobs a previous run left behind
    rpc_server = None
    if conf.transport_url:
        from ostia.jobs.rpc import RpcWorkerServer

        rpc_server = RpcWorkerServer(conf, ctl.worker)
        rpc_server.start()
    from ostia.cli import health_cmd, metrics_cmd
    from ostia.jobs.inproc import InProcessDispatcher

    dispatcher = bootstrap.rpc_dispatcher(conf) if conf.transport_url else InProcessDispatcher(ctl.worker)
    health = health_cmd.start_in_up(conf, ctl.db, dispatcher)
    from ostia.cli import housekeeping_cmd

    # No job sweep of its own: the in-process worker already sweeps every [jobs] sweep_interval.
    housekeeping = housekeeping_cmd.build(conf, ctl.db, ctl.drivers, None)
    housekeeping.start()
    print(f"ostia: API on http://{conf.api_settings.bind_host}:{conf.api_settings.bind_port} "
          f"(state in {conf.state_dir}, auth {conf.api_settings.auth_strategy})", flush=True)
    try:
        _serve(conf, metrics_cmd.api_app(conf, ctl, health))
    finally:
        if health is not None:
            health.stop()
        housekeeping.stop()
        if rpc_server is not None:
            rpc_server.stop()
        ctl.worker.stop(wait=False)
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    from ostia.cli import bootstrap

    conf = _conf(args)
    ctl = bootstrap.api_only(conf)
    from ostia.cli import metrics_cmd

    _serve(conf, metrics_cmd.api_app(conf, ctl))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from ostia.cli import bootstrap
    from ostia.jobs.rpc import RpcWorkerServer

    conf = _conf(args)
    if not conf.transport_url:
        print("ostia worker: set transport_url (or use `ostia up`)", file=sys.stderr)
        return 2
    ctl = bootstrap.worker_only(conf)
    assert ctl.worker is not None
    ctl.worker.start()
    ctl.worker.sweep()
    server = RpcWorkerServer(conf, ctl.worker)
    server.start()
    from ostia.cli import metrics_cmd

    metrics_cmd.worker_listener(conf)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(f"ostia worker {ctl.worker.name} listening on topic {conf.jobs.topic}", flush=True)
    done.wait()
    server.stop()
    ctl.worker.stop()
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    from ostia.agent.main import run

    return run([*args.config_file, *args.agent_config_file])


def cmd_db(args: argparse.Namespace) -> int:
    from ostia.cli import bootstrap

    conf = _conf(args)
    db = bootstrap.database(conf)
    bootstrap.prepare_database(conf, db)
    print("database is at the latest revision")
    return 0


def cmd_network(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from ostia.cli import bootstrap
    from ostia.db.models import Network, Subnet

    conf = _conf(args)
    db = bootstrap.database(conf)
    bootstrap.require_current_schema(db)
    with db.session() as session:
        nets = {n.id: n for n in session.scalars(select(Network))}
        rows = [(nets[s.network_id].name, s.network_id, s.name, s.id, s.cidr)
                for s in session.scalars(select(Subnet).order_by(Subnet.name))]
    header = ("network", "network_id", "subnet", "subnet_id", "cidr")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    from ostia.api.policy import sample_yaml

    sys.stdout.write(sample_yaml())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ostia", description="Octavia-compatible load balancing.")
    p.add_argument("--config-file", action="append", default=[], help="ostia.conf (repeatable)")
    p.add_argument("--state-dir", help="state directory (default .state)")
    p.add_argument("--set", action="append", metavar="SECTION.OPT=VALUE", help="override one option")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="API, worker and everything else in one process").set_defaults(func=cmd_up)
    sub.add_parser("api", help="the REST API alone (needs transport_url)").set_defaults(func=cmd_api)
    sub.add_parser("worker", help="a controller worker (needs transport_url)").set_defaults(func=cmd_worker)
    agent = sub.add_parser("agent", help="the amphora agent (one per amphora; started by the compute driver)")
    # Also after the subcommand (`ostia agent --config-file agent.conf`), as the compute driver runs it.
    agent.add_argument("--config-file", dest="agent_config_file", action="append", default=[],
                       help="agent.conf with an [amphora_agent] section (repeatable)")
    agent.set_defaults(func=cmd_agent)
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    db.set_defaults(func=cmd_db)
    net = sub.add_parser("network", help="networks the drivers own")
    net.add_argument("action", choices=["list"])
    net.set_defaults(func=cmd_network)
    pol = sub.add_parser("policy", help="policy defaults")
    pol.add_argument("action", choices=["sample"])
    pol.set_defaults(func=cmd_policy)
    from ostia.cli import secret_cmd

    secret_cmd.add_parser(sub, _conf)
    from ostia.cli import deploy_cmd, diagnose_cmd, health_cmd

    diagnose_cmd.add_parser(sub, _conf)
    health_cmd.add_parser(sub, _conf)
    from ostia.cli import progress_cmd

    progress_cmd.add_parser(sub)
    from ostia.cli import housekeeping_cmd

    housekeeping_cmd.add_parser(sub, _conf)
    deploy_cmd.add_parser(sub, _conf)
    from ostia.cli import ca_cmd

    ca_cmd.add_parser(sub, _conf)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _logging(args.verbose, args.command in SERVICES)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
