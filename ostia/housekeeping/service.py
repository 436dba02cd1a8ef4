"""The housekeeping service (`ostia housekeeping`, and inside `ostia up`): periodic tasks, each on its own
interval, run one after another by one thread. A task that raises is logged and scheduled again; the others
keep their pace. The spare pool keeps its own thread (a refill boots amphorae, which would hold up the rest).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ostia.db.engine import Database
from ostia.jobs import store

LOG = logging.getLogger("ostia.housekeeping")


class Startable(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclasses.dataclass
class PeriodicTask:
    name: str
    run: Callable[[], Any]
    interval: float
    due: float  # time.monotonic() of the next run
    runs: int = 0
    failures: int = 0


class HousekeepingService:
    def __init__(self) -> None:
        self.tasks: dict[str, PeriodicTask] = {}
        self.companions: list[Startable] = []  # started and stopped with the service (the spare pool)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, run: Callable[[], Any], interval: float, initial_delay: float = 0.0) -> None:
        self.tasks[name] = PeriodicTask(name, run, interval, time.monotonic() + initial_delay)

    def start(self) -> None:
        for companion in self.companions:
            companion.start()
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)
        self._thread.start()
        LOG.info("housekeeping started: %s", ", ".join(f"{t.name} every {t.interval:g}s"
                                                        for t in self.tasks.values()))

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for companion in self.companions:
            companion.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_task(self, name: str) -> Any:
        """Run one task now, in the caller's thread, errors raised (for tests and one-shot use)."""
        return self.tasks[name].run()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.tasks:
                self._stop.wait(1.0)
                continue
            task = min(self.tasks.values(), key=lambda t: t.due)
            if self._stop.wait(max(task.due - time.monotonic(), 0.0)):
                return
            try:
                task.run()
            except Exception:  # one broken task must not starve the others
                task.failures += 1
                LOG.exception("housekeeping task %s failed", task.name)
            task.runs += 1
            # From now, not from the due time: a slow run is not followed by a burst of catch-up runs.
            task.due = time.monotonic() + task.interval


class JobSweep:
    """Hands jobs nobody works on (the lease of a dead worker lapsed, or the dispatch was lost) to a worker
    again. Handing over twice is harmless: the worker's claim is a compare-and-set on the job row (state and
    lease in the UPDATE's WHERE), so only one worker runs it; it resumes the flow, or reverts it after
    `[jobs] max_attempts` runs."""

    def __init__(self, db: Database, dispatch: Callable[[str], object], unclaimed_grace: float) -> None:
        self.db = db
        self.dispatch = dispatch
        self.unclaimed_grace = unclaimed_grace

    def run_once(self) -> int:
        with self.db.session() as session:
            ids = store.recoverable(session, unclaimed_grace=self.unclaimed_grace)
        for job_id in ids:
            LOG.info("job=%s abandoned: handed to a worker again", job_id)
            self.dispatch(job_id)
        return len(ids)
