"""`ostia housekeeping`, and the same service inside `ostia up`: expired DELETED rows removed, abandoned jobs
handed to a worker again, certificates rotated (ostia/housekeeping/certs.py), the spare amphora pool kept full.

Any number may run against one database: clean-up deletes re-check expiry, the worker's claim on a job row
decides who recovers it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from oslo_config import cfg

from ostia.db.engine import Database
from ostia.drivers.registry import Drivers
from ostia.housekeeping.cleanup import DatabaseCleanup
from ostia.housekeeping.service import HousekeepingService, JobSweep

LOG = logging.getLogger("ostia.housekeeping")

ConfLoader = Callable[[argparse.Namespace], Any]


def build(conf: cfg.ConfigOpts, db: Database, drivers: Drivers, dispatcher: Any | None) -> HousekeepingService:
    hk = conf.house_keeping
    service = HousekeepingService()
    cleanup = DatabaseCleanup(db, hk.amphora_expiry_age, hk.load_balancer_expiry_age)
    service.add("db_cleanup", cleanup.run_once, hk.cleanup_interval)
    if dispatcher is not None:  # None: no job sweep (no workers to reach, or `ostia up`, whose worker sweeps)
        # Same pace and dispatch grace as the workers' own sweep ([jobs] sweep_interval).
        sweep = JobSweep(db, dispatcher.dispatch, unclaimed_grace=conf.jobs.sweep_interval * 2)
        service.add("job_sweep", sweep.run_once, conf.jobs.sweep_interval)
    from ostia.housekeeping.certs import CertRotator

    service.add("cert_rotation", CertRotator(conf, db, drivers).run_once, hk.cert_interval)
    if hk.spare_amphora_pool_size > 0:
        from ostia.housekeeping.spares import spare_pool

        service.companions.append(spare_pool(conf, db, drivers))
    return service


def run(args: argparse.Namespace, conf: Any) -> int:
    from ostia.cli import bootstrap
    from ostia.drivers.registry import build_drivers

    db = bootstrap.database(conf)
    bootstrap.require_current_schema(db)
    dispatcher = bootstrap.rpc_dispatcher(conf) if conf.transport_url else None
    if dispatcher is None:
        LOG.warning("no transport_url: this housekeeping cannot hand abandoned jobs to workers (the workers' "
                    "own sweep still recovers them)")
    service = build(conf, db, build_drivers(conf, db), dispatcher)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    service.start()
    print(f"ostia housekeeping: {', '.join(service.tasks)}", flush=True)
    done.wait()
    service.stop()
    close = getattr(dispatcher, "close", None)
    if close is not None:
        close()
    db.engine.dispose()
    return 0


def add_parser(sub: Any, load_conf: ConfLoader) -> None:
    """Register `ostia housekeeping` on the main parser's subparsers."""
    sub.add_parser("housekeeping", help="expired row clean-up, job recovery, certificate rotation, spare amphorae") \
        .set_defaults(func=lambda args: run(args, load_conf(args)))
