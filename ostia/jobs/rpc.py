"""Job dispatch over oslo.messaging (RabbitMQ): the API casts `run_job`, any worker on the topic takes it.

The message is only a wake-up call. The job row is committed before the cast, so a lost message (broker
down, worker killed with the message in hand) delays a job but never loses it: the workers' recovery sweep
claims PENDING jobs nobody picked up. That is why a failed cast is logged and not raised.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Protocol

import oslo_messaging
from oslo_config import cfg

LOG = logging.getLogger("ostia.jobs.rpc")

API_VERSION = "1.0"
# A cast tries the broker this many extra times, then gives up (default: forever, which would hang the
# API request when RabbitMQ is down; the sweep does the retrying for us).
CAST_RETRIES = 1


class Submitter(Protocol):
    name: str

    def submit(self, job_id: str) -> object: ...


def _transport(conf: cfg.ConfigOpts) -> Any:
    if not conf.transport_url:
        raise ValueError("transport_url is not set")
    return oslo_messaging.get_rpc_transport(conf, url=conf.transport_url)


class RpcDispatcher:
    """The API side: `dispatch(job_id)` casts `run_job(job_id=...)` to the workers' topic."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self._transport = _transport(conf)
        target = oslo_messaging.Target(topic=conf.jobs.topic, version=API_VERSION)
        self._client = oslo_messaging.get_rpc_client(self._transport, target, retry=CAST_RETRIES)

    def dispatch(self, job_id: str) -> None:
        try:
            self._client.cast({}, "run_job", job_id=job_id)
        except Exception as exc:  # the row is committed; the recovery sweep will find the job
            LOG.error("job=%s could not be dispatched (%s: %s); a worker's recovery sweep will pick it up",
                      job_id, type(exc).__name__, exc)

    def close(self) -> None:
        self._transport.cleanup()


class JobEndpoint:
    """What the workers expose over RPC. `run_job` only queues: the claim on the row decides who runs it."""

    target = oslo_messaging.Target(version=API_VERSION)

    def __init__(self, worker: Submitter) -> None:
        self._worker = worker

    def run_job(self, ctxt: dict[str, Any], job_id: str) -> None:
        LOG.debug("job=%s received by %s", job_id, self._worker.name)
        self._worker.submit(job_id)


class RpcWorkerServer:
    """The worker side: an RPC server on `[jobs] topic` whose endpoint hands jobs to `worker.submit`."""

    def __init__(self, conf: cfg.ConfigOpts, worker: Submitter) -> None:
        self._transport = _transport(conf)
        # Casts go to the shared topic queue (one consumer gets each message); the per-server queue is
        # named after the host, not the process, so restarts do not leave queues behind in the broker.
        target = oslo_messaging.Target(topic=conf.jobs.topic, server=conf.host or socket.gethostname(),
                                       version=API_VERSION)
        # No `executor=` argument: it is deprecated, and without eventlet monkey-patching (we never patch)
        # oslo.messaging picks the threading executor. Checked below rather than assumed.
        self._server = oslo_messaging.get_rpc_server(
            self._transport, target, [JobEndpoint(worker)],
            access_policy=oslo_messaging.DefaultRPCAccessPolicy)
        if self._server.executor_type != "threading":
            raise RuntimeError(f"oslo.messaging chose the {self._server.executor_type!r} executor; "
                               "ostia workers need 'threading' (is eventlet monkey-patching active?)")

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        try:
            self._server.stop()
            self._server.wait()
        finally:
            self._transport.cleanup()
