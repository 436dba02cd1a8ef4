"""The health manager service: the heartbeat receiver, the batched updater and any periodic loops.

Composition (ostia/cli/main.py, `ostia health-manager` and `ostia up`):

    hm = HealthManager.from_conf(conf, db)
    hm.add_loop("failover", scanner.scan_once, conf.health_manager.health_check_interval,
                initial_delay=conf.health_manager.heartbeat_timeout)
    hm.start()
    ...
    hm.stop()

`add_loop(name, fn, interval, initial_delay=0)` runs `fn()` in its own thread every `interval` seconds counted
from the end of the previous run (a slow pass never overlaps itself); an exception is logged and the loop goes
on. Loops added after start() start at once. `metrics()` gives the counters and batch timings for /metrics.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import threading
from collections.abc import Callable
from typing import Any

from oslo_config import cfg

from ostia.db.engine import Database
from ostia.health.receiver import DEFAULT_RCVBUF, Counters, Receiver, bind_socket
from ostia.health.updater import Updater

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class _Loop:
    name: str
    fn: Callable[[], object]
    interval: float
    initial_delay: float
    thread: threading.Thread | None = None


class HealthManager:
    def __init__(self, db: Database, *, bind_ip: str, bind_port: int, heartbeat_key: str,
                 heartbeat_interval: float, rcvbuf: int = DEFAULT_RCVBUF, batch_size: int = 500,
                 max_delay: float = 0.05) -> None:
        self.db = db
        self.counters = Counters()
        self.updater = Updater(db, self.counters, heartbeat_interval, batch_size=batch_size, max_delay=max_delay)
        # Bound here, not in start(): a taken port fails the caller at once, and port 0 is known before start.
        self.receiver = Receiver(bind_socket(bind_ip, bind_port, rcvbuf), heartbeat_key, self.updater.submit,
                                 self.counters)
        self._loops: list[_Loop] = []
        self._stop = threading.Event()
        self._started = False

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts, db: Database) -> HealthManager:
        hm = conf.health_manager
        return cls(db, bind_ip=hm.bind_ip, bind_port=hm.bind_port, heartbeat_key=hm.heartbeat_key,
                   heartbeat_interval=hm.heartbeat_interval, rcvbuf=hm.sock_rlimit or DEFAULT_RCVBUF)

    @property
    def address(self) -> tuple[str, int]:
        """Where heartbeats are received (the real port when bind_port was 0)."""
        return self.receiver.address

    def add_loop(self, name: str, fn: Callable[[], object], interval: float, initial_delay: float = 0.0) -> None:
        loop = _Loop(name, fn, interval, initial_delay)
        self._loops.append(loop)
        if self._started:
            self._start_loop(loop)

    def start(self) -> None:
        self.updater.start()
        self.receiver.start()
        self._started = True
        for loop in self._loops:
            self._start_loop(loop)
        host, port = self.address
        LOG.info("health manager receiving heartbeats on udp %s:%d", host, port)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop receiving, write what was received, stop the loops (each finishes its current pass)."""
        self._stop.set()
        self.receiver.stop()
        self.updater.stop(timeout)
        for loop in self._loops:
            if loop.thread is not None:
                loop.thread.join(timeout)

    def _start_loop(self, loop: _Loop) -> None:
        loop.thread = threading.Thread(target=self._run_loop, args=(loop,), name=f"hm-{loop.name}", daemon=True)
        loop.thread.start()

    def _run_loop(self, loop: _Loop) -> None:
        if self._stop.wait(loop.initial_delay):
            return
        while not self._stop.is_set():
            try:
                loop.fn()
            except Exception:
                LOG.exception("health manager loop %s failed; next pass in %.1fs", loop.name, loop.interval)
            if self._stop.wait(loop.interval):
                return

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.counters.snapshot())
        out["queue_depth"] = self.updater.queue_depth
        out["kernel_drops"] = self.receiver.kernel_drops()
        out["tree_cache_hits"], out["tree_cache_misses"] = self.updater.trees.hits, self.updater.trees.misses
        times = sorted(self.updater.commit_seconds)
        sizes = list(self.updater.batch_sizes)
        if times:
            out["batch_seconds_p50"] = round(times[len(times) // 2], 4)
            out["batch_seconds_p99"] = round(times[min(len(times) - 1, int(len(times) * 0.99))], 4)
            out["batch_seconds_max"] = round(times[-1], 4)
            out["batch_size_mean"] = round(statistics.fmean(sizes), 1)
        return out
