"""In-process dispatch for `ostia up`: jobs go straight to the worker living in the same process."""

from __future__ import annotations

from typing import Protocol


class Submitter(Protocol):
    def submit(self, job_id: str) -> object: ...


class InProcessDispatcher:
    def __init__(self, worker: Submitter) -> None:
        self._worker = worker

    def dispatch(self, job_id: str) -> None:
        self._worker.submit(job_id)
