from __future__ import annotations

import logging
from typing import Any

from taskflow import task

from ostia.db.engine import Database
from ostia.drivers.registry import Drivers

LOG = logging.getLogger("ostia.worker.tasks")


class OstiaTask(task.Task):
    """A flow task with the database and drivers it may use; arguments come from the flow's store."""

    def __init__(self, db: Database, drivers: Drivers, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name or type(self).__name__, **kwargs)
        self.db = db
        self.drivers = drivers
