"""Wiring of /metrics for the services: which collectors each process has and where they are served."""

from __future__ import annotations

from typing import Any

from oslo_config import cfg
from prometheus_client.registry import Collector

from ostia.cli import bootstrap
from ostia.metrics.asgi import MetricsEndpoint, RouteTemplates, parse_cidrs
from ostia.metrics.database import DatabaseCollector
from ostia.metrics.health import HealthManagerCollector
from ostia.metrics.registry import process_registry, serve


def api_app(conf: cfg.ConfigOpts, ctl: bootstrap.Controller, health: Any | None = None) -> Any:
    """The API as served: /metrics (database, and the health manager when it runs in this process) in front of
    the auth filter, so scrapers need no token."""
    collectors: list[Collector] = [DatabaseCollector(ctl.db)]
    if health is not None:
        collectors.append(HealthManagerCollector(health))
    inner: Any = bootstrap.wrap_auth(conf, ctl.app)
    templates = RouteTemplates(lambda: ctl.app.openapi()["paths"])
    return MetricsEndpoint(inner, templates, process_registry(*collectors),
                           parse_cidrs(conf.api_settings.metrics_allowed_cidrs))


def worker_listener(conf: cfg.ConfigOpts) -> Any | None:
    return serve(conf.controller_worker.metrics_bind, process_registry(), "worker")


def health_manager_listener(conf: cfg.ConfigOpts, hm: Any) -> Any | None:
    return serve(conf.health_manager.metrics_bind, process_registry(HealthManagerCollector(hm)), "health manager")
