"""The spare amphora pool: a few amphorae booted ahead of time (READY, no load balancer), so that creating a
SINGLE load balancer claims one whose agent already answers instead of waiting for a new one to start.

Octavia dropped its spare pool because Nova server groups cannot adopt a running VM; local amphorae have no
such constraint, and an agent's start-up is most of a create's time. ACTIVE_STANDBY load balancers build their
own pair. A spare is claimed with a compare-and-set on its row, so two flows never take the same one.

Several housekeeping processes (on one machine or several) may fill the pool at once; together they never
put more than `size` spares (READY or BOOTING, no load balancer) in it, with no lock and no extra table.
Before booting, a process reserves a slot: it commits a PENDING_CREATE row with no load balancer, then,
in a later transaction, counts every other spare and reservation. Fewer than `size`: the slot is its own
(a compare-and-set turns the reservation into a BOOTING spare, and only then is the amphora started).
Otherwise it deletes its reservation and stops filling for this round. This is sound whatever the clocks:
of any `size + 1` winners, the one whose reservation committed last would have counted the other `size`
(rows leave the pool only by being claimed or deleted, never back into it; on a Galera cluster this needs
reads that see every earlier commit: one writer node, or wsrep_sync_wait >= 1). Counting only the rows
ranking before ours would not be: a reservation stamped earlier may commit after ours counted. When
reservations tie, the one ranking later by (created_at, id) yields and the earlier one re-counts a few
times, so a tie does not leave the pool short until the next round. A reservation never booted: deleting
it destroys nothing, and one left by a process that died mid-decision is deleted after
RESERVATION_TIMEOUT (a process that was only slow then fails its compare-and-set and stops).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from sqlalchemy import delete, func, select, update

from ostia.db.engine import Database
from ostia.db.models import Amphora, utcnow
from ostia.domain.enums import AmphoraStatus
from ostia.drivers.registry import Drivers
from ostia.worker.tasks.compute import destroy_amphora, start_amphora

LOG = logging.getLogger("ostia.housekeeping.spares")
_SPARE = (Amphora.load_balancer_id.is_(None), Amphora.status.in_([AmphoraStatus.READY, AmphoraStatus.BOOTING]))
# A slot being decided (see the module docstring): no load balancer, no compute instance, nothing started.
_RESERVED = (Amphora.load_balancer_id.is_(None), Amphora.status == AmphoraStatus.PENDING_CREATE)
_SPARE_OR_RESERVED = (Amphora.load_balancer_id.is_(None), Amphora.status.in_(
    [AmphoraStatus.READY, AmphoraStatus.BOOTING, AmphoraStatus.PENDING_CREATE]))
# A decision takes a few queries and at most _RECOUNTS short waits; a reservation older than this is a dead
# process's (or one so slow that its compare-and-set will fail once the row is gone).
RESERVATION_TIMEOUT = dt.timedelta(seconds=60)
_RECOUNTS = 10
_RECOUNT_DELAY = 0.05


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
            amp_id = self._reserve()
            if amp_id is None:
                LOG.debug("spare pool: full (another housekeeper filled it)")
                return
            self._build_one(amp_id)

    def _reserve(self) -> str | None:
        """Reserve a slot in the pool and decide whether it is ours; the id of the new BOOTING spare if so."""
        with self.db.session() as session:
            amp = Amphora(load_balancer_id=None, role=None, status=AmphoraStatus.PENDING_CREATE)
            session.add(amp)
            session.flush()
            amp_id = amp.id
        won = False
        try:
            for attempt in range(_RECOUNTS):
                # One statement, so one snapshot taken after our reservation committed.
                with self.db.session() as session:
                    rows = session.execute(select(Amphora.id, Amphora.status, Amphora.created_at)
                                           .where(*_SPARE_OR_RESERVED)).all()
                mine = next((r for r in rows if r.id == amp_id), None)
                if mine is None or mine.status != AmphoraStatus.PENDING_CREATE:
                    return None  # deleted as a stale reservation: we were too slow
                others = [r for r in rows if r.id != amp_id]
                if len(others) < self.size:
                    with self.db.session() as session:
                        result = session.execute(update(Amphora).where(Amphora.id == amp_id, *_RESERVED)
                                                 .values(status=AmphoraStatus.BOOTING, updated_at=utcnow()))
                        won = result.rowcount == 1  # type: ignore[attr-defined]
                    return amp_id if won else None
                # Full. Spares, and reservations ranking before ours, keep their slots; if they fill the pool
                # we yield, else the later-ranked reservations will (they count ours), so count again.
                ahead = sum(1 for r in others if r.status != AmphoraStatus.PENDING_CREATE
                            or (r.created_at, r.id) < (mine.created_at, mine.id))
                if ahead >= self.size or self._stop.wait(_RECOUNT_DELAY * (attempt + 1)):
                    return None
            return None
        finally:
            if not won:
                self._drop_reservation(amp_id)

    def _drop_reservation(self, amp_id: str) -> None:
        """Only while still a reservation: nothing was built for it, so there is nothing to destroy."""
        with self.db.session() as session:
            session.execute(delete(Amphora).where(Amphora.id == amp_id, *_RESERVED))

    def _build_one(self, amp_id: str) -> None:
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
        than any build can take: another housekeeping process may be booting the younger ones right now.
        Reservations a process left undecided are deleted (never built: nothing to destroy)."""
        now = utcnow()
        with self.db.session() as session:
            session.execute(delete(Amphora).where(*_RESERVED, Amphora.created_at < now - RESERVATION_TIMEOUT))
        cutoff = now - dt.timedelta(seconds=self.boot_timeout)
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
