"""The spare amphora pool: a few amphorae booted ahead of time (READY, no load balancer), so that creating a
SINGLE load balancer claims one whose agent already answers instead of waiting for a new one to start.

Octavia dropped its spare pool because Nova server groups cannot adopt a running VM; local amphorae have no
such constraint, and an agent's start-up is most of a create's time. ACTIVE_STANDBY load balancers build their
own pair. A spare is claimed with a compare-and-set on its row, so two flows never take the same one.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from sqlalchemy import func, select, update

from ostia.db.engine import Database
from ostia.db.models import Amphora, utcnow
from ostia.domain.enums import AmphoraStatus
from ostia.drivers.registry import Drivers
from ostia.worker.tasks.compute import destroy_amphora, start_amphora

LOG = logging.getLogger("ostia.housekeeping.spares")
_SPARE = (Amphora.load_balancer_id.is_(None), Amphora.status.in_([AmphoraStatus.READY, AmphoraStatus.BOOTING]))


class SparePool:
    def __init__(self, db: Database, drivers: Drivers, size: int, interval: float,
                 boot_timeout: float = 600.0) -> None:
        self.db = db
        self.drivers = drivers
        self.size = size
        self.interval = interval
        # A spare BOOTING for longer than this is nobody's build any more (its housekeeper died); younger ones
        # may be another running housekeeper's, which must not be destroyed under it.
        self.boot_timeout = boot_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.size <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="spare-pool", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.fill()
            except Exception:  # the pool is an optimisation: log and try again later
                LOG.exception("spare pool: refill failed")
            self._stop.wait(self.interval)

    def fill(self) -> None:
        self._forget_interrupted()
        with self.db.session() as session:
            have = session.scalar(select(func.count()).select_from(Amphora).where(*_SPARE)) or 0
        for _ in range(self.size - have):
            if self._stop.is_set():
                return
            self._build_one()

    def _build_one(self) -> None:
        with self.db.session() as session:
            amp = Amphora(load_balancer_id=None, role=None, status=AmphoraStatus.BOOTING)
            session.add(amp)
            session.flush()
            amp_id = amp.id
        try:
            start_amphora(self.db, self.drivers, amp_id, None, None)
        except Exception:
            self._discard(amp_id)
            raise
        with self.db.session() as session:
            # Only if still ours: a delete through the amphora API may have raced the boot.
            session.execute(update(Amphora).where(Amphora.id == amp_id, Amphora.status == AmphoraStatus.BOOTING,
                                                  Amphora.load_balancer_id.is_(None))
                            .values(status=AmphoraStatus.READY, updated_at=utcnow()))
        LOG.info("amp=%s spare ready", amp_id)

    def _discard(self, amp_id: str) -> None:
        with self.db.session() as session:
            compute_id = session.scalar(select(Amphora.compute_id).where(Amphora.id == amp_id))
        try:
            destroy_amphora(self.db, self.drivers, amp_id, compute_id)
        finally:
            with self.db.session() as session:
                session.execute(update(Amphora).where(Amphora.id == amp_id)
                                .values(status=AmphoraStatus.ERROR, updated_at=utcnow()))

    def _forget_interrupted(self) -> None:
        """Spares a previous run was still booting when it stopped: their build never finished. Only those older
        than any build can take: another housekeeping process may be booting the younger ones right now."""
        cutoff = utcnow() - dt.timedelta(seconds=self.boot_timeout)
        with self.db.session() as session:
            stale = list(session.scalars(select(Amphora.id).where(
                Amphora.load_balancer_id.is_(None), Amphora.status == AmphoraStatus.BOOTING,
                Amphora.created_at < cutoff)))
        for amp_id in stale:
            try:
                self._discard(amp_id)
            except Exception:
                LOG.exception("amp=%s could not discard an interrupted spare", amp_id)


def spare_pool(conf: Any, db: Database, drivers: Drivers) -> SparePool:
    hk = conf.house_keeping
    # A spare's build: starting its agent, then up to build_active_timeout for it to answer; generously more.
    boot_timeout = 2 * conf.haproxy_amphora.build_active_timeout + 60
    return SparePool(db, drivers, hk.spare_amphora_pool_size, hk.spare_check_interval, boot_timeout)
