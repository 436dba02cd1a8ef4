"""`ostia health-manager`, and the health manager inside `ostia up`: heartbeats in, statuses and statistics
out, stale amphorae failed over (the scanner dispatches `amphora.failover` jobs to the workers).

The process prints its counters as one JSON line (`health-manager metrics: {...}`) on SIGUSR1 and at exit;
bench/heartbeats.py reads them.
"""

from __future__ import annotations

import argparse
import errno
import gc
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from oslo_config import cfg

from ostia.db.engine import Database
from ostia.health.service import HealthManager

LOG = logging.getLogger("ostia.health")

ConfLoader = Callable[[argparse.Namespace], Any]
METRICS_LOG_INTERVAL = 60.0
SWITCH_INTERVAL = 0.0002
GC_THRESHOLDS = (20_000, 50, 50)


def build(conf: cfg.ConfigOpts, db: Database, dispatcher: Any | None) -> HealthManager:
    """The service with its loops: the failover scanner when jobs can reach a worker, a periodic metrics log."""
    hm = HealthManager.from_conf(conf, db)
    if dispatcher is not None:
        from ostia.health.failover import FailoverScanner

        opts = conf.health_manager
        scanner = FailoverScanner(conf, db, dispatcher)
        # The first pass waits heartbeat_timeout: amphorae get to report to a manager that just started.
        hm.add_loop("failover", scanner.scan_once, opts.health_check_interval, initial_delay=opts.heartbeat_timeout)
    else:
        LOG.warning("no transport_url: this health manager updates statuses but fails nothing over")
    hm.add_loop("metrics", lambda: LOG.info("health manager %s", hm.metrics()), METRICS_LOG_INTERVAL,
                initial_delay=METRICS_LOG_INTERVAL)
    return hm


def start_in_up(conf: cfg.ConfigOpts, db: Database, dispatcher: Any) -> HealthManager | None:
    """`ostia up`: a taken heartbeat port (another `ostia up` on this machine) must not stop the API and worker;
    it is reported loudly and the rest runs without heartbeats (so nothing is ever found stale either)."""
    try:
        hm = build(conf, db, dispatcher)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        opts = conf.health_manager
        LOG.error("health manager NOT running: udp %s:%d is taken (set health_manager.bind_port)", opts.bind_ip,
                  opts.bind_port)
        return None
    hm.start()
    return hm


def print_metrics(hm: HealthManager) -> None:
    print(f"health-manager metrics: {json.dumps(hm.metrics(), sort_keys=True)}", flush=True)


def run(args: argparse.Namespace, conf: Any) -> int:
    from ostia.cli import bootstrap

    db = bootstrap.database(conf)
    bootstrap.require_current_schema(db)
    dispatcher = bootstrap.rpc_dispatcher(conf) if conf.transport_url else None
    try:
        hm = build(conf, db, dispatcher)
    except OSError as exc:
        print(f"ostia health-manager: udp {conf.health_manager.bind_ip}:{conf.health_manager.bind_port}: {exc}",
              file=sys.stderr)
        return 2
    # The receiver thread gives the GIL up for every recvfrom, and while the updater computes a batch it waited
    # a whole switch interval (5 ms) to get it back: one datagram per 5 ms, the rest piled up in the kernel.
    # A short interval keeps the receiver draining the socket while batches are computed.
    sys.setswitchinterval(SWITCH_INTERVAL)
    # Heartbeats are acyclic JSON that reference counting frees; the cyclic collector only re-scans what lives
    # long (cached trees, SQLAlchemy's caches), a full pass every few thousand beats at the default thresholds.
    # Start-up's objects are frozen out of it and collections are made rarer.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGUSR1, lambda *_: print_metrics(hm))
    hm.start()
    from ostia.cli import metrics_cmd

    metrics_cmd.health_manager_listener(conf, hm)
    host, port = hm.address
    print(f"ostia health-manager: heartbeats on udp {host}:{port}", flush=True)
    done.wait()
    hm.stop()
    print_metrics(hm)
    db.engine.dispose()
    return 0


def add_parser(sub: Any, load_conf: ConfLoader) -> None:
    """Register `ostia health-manager` on the main parser's subparsers."""
    sub.add_parser("health-manager", help="receive heartbeats; operating status, statistics, failover") \
        .set_defaults(func=lambda args: run(args, load_conf(args)))
