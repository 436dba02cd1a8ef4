"""Housekeepers racing for one amphora's certificate: the cert_busy compare-and-set lets exactly one of them in
(on every database backend), and the row is released afterwards even when the rotation failed."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select, update

from ostia.db.models import Amphora, utcnow
from ostia.housekeeping.certs import STALE_CLAIM, CertRotator, claimed
from tests.support.controller import Api


def amphora_of(ctl: Any, api: Api) -> str:
    lb = api.create_lb(name="certs")
    with ctl.db.session() as session:
        (amp,) = session.scalars(select(Amphora).where(Amphora.load_balancer_id == lb["id"]))
        # noop amphorae have no agent address; give this one an address so rotation considers it
        session.execute(update(Amphora).where(Amphora.id == amp.id).values(lb_network_ip="127.0.0.1"))
        return str(amp.id)


def test_one_claim_wins_and_is_released(controller: Any, api: Api) -> None:
    amp = amphora_of(controller, api)
    barrier, results = threading.Barrier(6), []

    def race() -> None:
        barrier.wait(10)
        with claimed(controller.db, amp) as mine:
            results.append(mine)
            barrier_done.wait(10)  # hold the claim until every racer has tried

    barrier_done = threading.Barrier(6)
    threads = [threading.Thread(target=race) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False] * 5 + [True]
    with controller.db.session() as session:
        assert session.get_one(Amphora, amp).cert_busy is False


def test_due_amphorae_are_those_close_to_expiry_unknown_and_not_busy(controller: Any, api: Api) -> None:
    amp = amphora_of(controller, api)
    rotator = CertRotator(controller.conf, controller.db, controller.drivers)
    assert rotator.target is None and rotator.run_once() == 0  # noop amphorae: no agent to rotate
    assert rotator.expiring() == [amp]  # expiry unknown: due, so the database learns it
    with controller.db.session() as session:
        session.execute(update(Amphora).where(Amphora.id == amp).values(
            cert_expiration=utcnow() + dt.timedelta(days=30)))
    assert rotator.expiring() == []
    with controller.db.session() as session:
        session.execute(update(Amphora).where(Amphora.id == amp).values(
            cert_expiration=utcnow() + dt.timedelta(days=13)))
    assert rotator.expiring() == [amp]  # inside the 14-day buffer
    with claimed(controller.db, amp) as mine:
        assert mine and rotator.expiring() == []  # another housekeeper has it
    with pytest.raises(RuntimeError), claimed(controller.db, amp):
        raise RuntimeError("rotation failed")
    assert rotator.expiring() == [amp]  # released anyway
    # A housekeeper that died holding the claim: after STALE_CLAIM another one takes the amphora over.
    with controller.db.session() as session:
        session.execute(update(Amphora).where(Amphora.id == amp).values(
            cert_busy=True, updated_at=utcnow() - dt.timedelta(minutes=1)))
    assert rotator.expiring() == []
    with claimed(controller.db, amp) as mine:
        assert not mine
    with controller.db.session() as session:
        session.execute(update(Amphora).where(Amphora.id == amp).values(
            updated_at=utcnow() - STALE_CLAIM - dt.timedelta(seconds=1)))
    assert rotator.expiring() == [amp]
    with claimed(controller.db, amp) as mine:
        assert mine


def busy(ctl: Any, amp: str) -> bool:
    with ctl.db.session() as session:
        return bool(session.get_one(Amphora, amp).cert_busy)


def test_release_after_a_stale_takeover_leaves_the_new_claim(controller: Any, api: Api) -> None:
    """A housekeeper whose rotation outlived STALE_CLAIM lost the amphora to another one: its late release must
    not clear the other's claim, or a third housekeeper would rotate the amphora concurrently."""
    amp = amphora_of(controller, api)
    takeover = claimed(controller.db, amp)
    with claimed(controller.db, amp) as slow:
        assert slow
        with controller.db.session() as session:  # the slow rotation outlives STALE_CLAIM
            session.execute(update(Amphora).where(Amphora.id == amp).values(
                updated_at=utcnow() - STALE_CLAIM - dt.timedelta(seconds=1)))
        assert takeover.__enter__()
    try:  # the slow one has finished while the takeover still rotates
        assert busy(controller, amp)
        with claimed(controller.db, amp) as third:
            assert not third
    finally:
        takeover.__exit__(None, None, None)
    assert not busy(controller, amp)
