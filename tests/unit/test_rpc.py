"""oslo.messaging wiring: options on our ConfigOpts, the cast → endpoint → worker.submit path, and
dispatch failures that are logged, not raised (the committed job waits for a recovery sweep)."""

from __future__ import annotations

import logging
import socket
import threading
import uuid

import pytest

from ostia import conf as conf_mod
from ostia.jobs.rpc import RpcDispatcher, RpcWorkerServer


class FakeWorker:
    name = "fake-worker"

    def __init__(self) -> None:
        self.jobs: list[str] = []
        self.got = threading.Event()

    def submit(self, job_id: str) -> None:
        self.jobs.append(job_id)
        self.got.set()


def test_messaging_options_live_on_our_conf() -> None:
    conf = conf_mod.load([], {"DEFAULT": {"transport_url": "rabbit://u:p@example.org:5672/"},
                              "oslo_messaging_rabbit": {"heartbeat_timeout_threshold": "7"},
                              "jobs": {"topic": "t1"}})
    assert conf.transport_url == "rabbit://u:p@example.org:5672/"
    assert conf.oslo_messaging_rabbit.heartbeat_timeout_threshold == 7
    assert conf.oslo_messaging_tracing.tracing_enabled is False
    assert conf.jobs.topic == "t1"
    assert conf_mod.load([]).transport_url is None  # unset: `ostia up` keeps jobs in-process


def test_cast_reaches_the_worker_endpoint() -> None:
    conf = conf_mod.load([], {"DEFAULT": {"transport_url": "fake://"}, "jobs": {"topic": f"t-{uuid.uuid4()}"}})
    worker = FakeWorker()
    server = RpcWorkerServer(conf, worker)
    server.start()
    dispatcher = RpcDispatcher(conf)
    try:
        dispatcher.dispatch("job-1")
        assert worker.got.wait(10)
        assert worker.jobs == ["job-1"]
    finally:
        dispatcher.close()
        server.stop()


def test_dispatch_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port nothing listens on: the broker is "down"
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = conf_mod.load([], {"DEFAULT": {"transport_url": f"rabbit://guest:guest@127.0.0.1:{port}/"}})
    dispatcher = RpcDispatcher(conf)
    try:
        with caplog.at_level(logging.ERROR, logger="ostia.jobs.rpc"):
            dispatcher.dispatch("job-2")  # returns (after a bounded retry) instead of raising or hanging
    finally:
        dispatcher.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "ostia.jobs.rpc"]
    assert len(messages) == 1
    assert messages[0].startswith("job=job-2 could not be dispatched (")
    assert messages[0].endswith("); a worker's recovery sweep will pick it up")
