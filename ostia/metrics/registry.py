"""One CollectorRegistry per process, holding what that process knows, and the small standalone listener.

`ostia up` and `ostia api` serve it at /metrics on the API port (ostia/metrics/asgi.py); `ostia health-manager`
and `ostia worker` have no HTTP server, so `[health_manager] metrics_bind` / `[controller_worker] metrics_bind`
(host:port, empty: none) starts prometheus_client's own.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import GCCollector, PlatformCollector, ProcessCollector, start_http_server
from prometheus_client.registry import Collector, CollectorRegistry

from ostia.metrics.instruments import ALL

LOG = logging.getLogger(__name__)


def process_registry(*collectors: Collector) -> CollectorRegistry:
    """The process's registry: process/GC/platform metrics, the histograms, and `collectors`."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
    for collector in (*ALL, *collectors):
        registry.register(collector)
    return registry


def serve(bind: str, registry: CollectorRegistry, what: str) -> Any | None:
    """Start the standalone listener for `bind` ('host:port'); None when `bind` is empty."""
    if not bind:
        return None
    host, _, port = bind.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)
    LOG.info("%s metrics on http://%s/metrics", what, bind)
    return server
