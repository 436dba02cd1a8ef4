"""The composition root: config → database → drivers → worker → API. Nothing else wires services."""

from __future__ import annotations

import dataclasses
import logging

from fastapi import FastAPI
from oslo_config import cfg

from ostia.api.app import create_app
from ostia.api.policy import Policy
from ostia.api.services import ApiServices, Dispatcher
from ostia.db import migrate
from ostia.db.engine import Database, default_url, make_engine
from ostia.db.repositories import networks
from ostia.drivers import registry
from ostia.drivers.cert_manager.local import LocalCertManager
from ostia.drivers.registry import Drivers, build_drivers
from ostia.jobs.inproc import InProcessDispatcher
from ostia.worker.service import Worker

LOG = logging.getLogger("ostia")


def database(conf: cfg.ConfigOpts) -> Database:
    url = conf.database.connection or default_url(conf.state_dir)
    return Database(make_engine(url, pool_size=conf.database.pool_size))


def prepare_database(conf: cfg.ConfigOpts, db: Database) -> None:
    """Migrate and seed: `ostia db upgrade`, and `ostia up` (which owns its SQLite file)."""
    migrate.upgrade(db.engine)
    with db.session() as session:
        networks.seed(session, conf.networking.networks)


def require_current_schema(db: Database) -> None:
    """Separate services share one database and may start together: they never migrate it themselves."""
    if not migrate.is_current(db.engine):
        raise SystemExit("the database schema is not at the latest revision: run `ostia db upgrade` first")


def rpc_dispatcher(conf: cfg.ConfigOpts) -> Dispatcher:
    from ostia.jobs.rpc import RpcDispatcher

    return RpcDispatcher(conf)


@dataclasses.dataclass
class Controller:
    conf: cfg.ConfigOpts
    db: Database
    drivers: Drivers
    worker: Worker | None
    app: FastAPI


def cert_manager(conf: cfg.ConfigOpts, db: Database) -> LocalCertManager:
    """TLS secrets (`ostia secret create`) in the controller database, encrypted with a key from the config."""
    return LocalCertManager(conf, db)


def api_services(conf: cfg.ConfigOpts, db: Database, dispatcher: Dispatcher, drivers: Drivers) -> ApiServices:
    # "testing" reads identity from headers like noauth but enforces policy like keystone (§7.2).
    enforce = conf.api_settings.auth_strategy in ("keystone", "testing")
    return ApiServices(conf=conf, db=db, dispatcher=dispatcher, policy=Policy(conf, enforce=enforce),
                       network_accepts_unknown=drivers.network.accepts_unknown_subnets,
                       cert_manager=registry.cert_manager(conf, db), vip_allocator=drivers.network,
                       active_standby=conf.controller_worker.network_driver != "loopback")


def wrap_auth(conf: cfg.ConfigOpts, app: FastAPI) -> object:
    if conf.api_settings.auth_strategy != "keystone":
        return app
    from ostia.api.keystone import KeystoneAuthMiddleware

    return KeystoneAuthMiddleware(app, conf)


def reattach_amphorae(db: Database, drivers: Drivers) -> None:
    """Restart the agents of live local amphorae that died with (or while) the controller was down.

    Their HAProxy kept serving meanwhile; a restarted agent adopts it instead of starting another.
    """
    reattach = getattr(drivers.compute, "reattach", None)
    if reattach is None:
        return
    from sqlalchemy import select

    from ostia.db.models import Amphora
    from ostia.worker.tasks.compute import LIVE

    with db.session() as session:
        amps = [(a.id, a.compute_id) for a in session.scalars(
            select(Amphora).where(Amphora.status.in_(LIVE), Amphora.compute_id.is_not(None)))]
    if amps:
        LOG.info("re-attaching %d amphorae", len(amps))
        reattach(amps)


def all_in_one(conf: cfg.ConfigOpts) -> Controller:
    """`ostia up`: API and worker in one process; jobs in-process unless a transport_url is set."""
    db = database(conf)
    prepare_database(conf, db)
    drivers = build_drivers(conf, db)
    reattach_amphorae(db, drivers)
    worker = Worker(conf, db, drivers)
    dispatcher: Dispatcher = rpc_dispatcher(conf) if conf.transport_url else InProcessDispatcher(worker)
    app = create_app(api_services(conf, db, dispatcher, drivers))
    return Controller(conf, db, drivers, worker, app)


def api_only(conf: cfg.ConfigOpts) -> Controller:
    db = database(conf)
    require_current_schema(db)
    drivers = build_drivers(conf, db)
    if not conf.transport_url:
        raise SystemExit("ostia api: set transport_url so jobs reach the workers (or use `ostia up`)")
    app = create_app(api_services(conf, db, rpc_dispatcher(conf), drivers))
    return Controller(conf, db, drivers, None, app)


def worker_only(conf: cfg.ConfigOpts) -> Controller:
    db = database(conf)
    require_current_schema(db)
    drivers = build_drivers(conf, db)
    return Controller(conf, db, drivers, Worker(conf, db, drivers), FastAPI())
