"""The spare pool filled by several housekeeping processes at once (each with its own engine and drivers, on one
real database): together they never hold more spares than the configured size, and a slot one of them lost
left no compute instance behind. Also: an abandoned reservation is deleted and frees its slot.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, update

from ostia.db.engine import Database, make_engine
from ostia.db.migrate import upgrade
from ostia.db.models import Amphora, utcnow
from ostia.domain.enums import AmphoraStatus
from ostia.drivers import noop
from ostia.drivers.registry import Drivers
from ostia.housekeeping.spares import RESERVATION_TIMEOUT, SparePool

SIZE = 2
HOUSEKEEPERS = 3
ROUNDS = 5
SPARE = (Amphora.load_balancer_id.is_(None), Amphora.status.in_([AmphoraStatus.READY, AmphoraStatus.BOOTING]))


@pytest.fixture
def databases(db_url: str) -> Iterator[list[Database]]:
    """One Database per housekeeper, as separate processes would have; the first one migrates."""
    dbs = [Database(make_engine(db_url)) for _ in range(HOUSEKEEPERS)]
    upgrade(dbs[0].engine)
    try:
        yield dbs
    finally:
        for db in dbs:
            db.engine.dispose()


def _drivers() -> Drivers:
    # noop drivers record every call; a short build keeps the housekeepers' boots overlapping
    return Drivers(compute=noop.NoopComputeDriver(0.02), network=noop.NoopNetworkDriver(),
                   amphora=noop.NoopAmphoraDriver())


def _fill_together(pools: list[SparePool]) -> None:
    barrier = threading.Barrier(len(pools))
    errors: list[BaseException] = []

    def run(pool: SparePool) -> None:
        try:
            barrier.wait(10)
            pool.fill()
        except BaseException as err:  # reported by the test thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=(p,), daemon=True) for p in pools]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a housekeeper's fill did not finish in 60 s"
    assert not errors, errors


def test_concurrent_housekeepers_never_overfill_the_spare_pool(databases: list[Database]) -> None:
    drivers = [_drivers() for _ in databases]
    pools = [SparePool(db, d, size=SIZE, interval=1.0) for db, d in zip(databases, drivers, strict=True)]
    db = databases[0]
    counts = []
    for _ in range(ROUNDS):
        _fill_together(pools)
        with db.session() as session:
            spares = set(session.scalars(select(Amphora.id).where(*SPARE)))
            reserved = session.scalar(select(func.count()).select_from(Amphora).where(
                Amphora.load_balancer_id.is_(None), Amphora.status == AmphoraStatus.PENDING_CREATE))
        counts.append(len(spares))
        print(f"spare rows after a concurrent fill by {HOUSEKEEPERS} housekeepers (size {SIZE}): {len(spares)}")
        assert len(spares) == SIZE, counts
        assert reserved == 0
        # Each instance built belongs to a spare row, or to one of an earlier round (taken away below).
        built = {args[0] for d in drivers for name, args in d.compute.calls if name == "build"}  # type: ignore[attr-defined]
        with db.session() as session:
            gone = set(session.scalars(select(Amphora.id).where(Amphora.status == AmphoraStatus.DELETED)))
        assert built == spares | gone, (built, spares, gone)
        # The pool empties (as if claimed or deleted through the API) before the next round refills it.
        with db.session() as session:
            session.execute(update(Amphora).where(Amphora.id.in_(spares)).values(status=AmphoraStatus.DELETED))


def test_an_abandoned_reservation_is_deleted_and_frees_its_slot(databases: list[Database]) -> None:
    db = databases[0]
    with db.session() as session:
        old = Amphora(load_balancer_id=None, role=None, status=AmphoraStatus.PENDING_CREATE,
                      created_at=utcnow() - RESERVATION_TIMEOUT - dt.timedelta(seconds=5))
        session.add(old)
        session.flush()
        old_id = old.id
    drivers = _drivers()
    SparePool(db, drivers, size=1, interval=1.0).fill()
    with db.session() as session:
        assert session.get(Amphora, old_id) is None
        spares = list(session.scalars(select(Amphora.id).where(*SPARE)))
    assert len(spares) == 1 and spares[0] != old_id
    assert [args[0] for name, args in drivers.compute.calls if name == "build"] == spares  # type: ignore[attr-defined]
