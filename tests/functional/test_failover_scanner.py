"""The health manager's failover scanner against a real database and a real worker (noop drivers): stale
detection, the busy compare-and-set between two scanners on PostgreSQL, the circuit breaker, FAILOVER_STOPPED
recovery, configuration re-push, and the failover flow's timeline (rows and heartbeats written directly)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from ostia import conf as conf_mod
from ostia.cli import bootstrap
from ostia.db.models import Amphora, AmphoraHealth, FailoverEvent, Job, LoadBalancer, utcnow
from ostia.health.failover import FailoverScanner
from ostia.jobs.inproc import InProcessDispatcher
from tests.support.controller import Api, running_controller
from tests.support.databases import fresh_database

HM = {"heartbeat_timeout": 2.0, "heartbeat_interval": 0.1, "health_check_interval": 0.1}


class Recorder:
    """A dispatcher that only remembers: the scanner's decisions, without a worker running them."""

    def __init__(self) -> None:
        self.jobs: list[str] = []

    def dispatch(self, job_id: str) -> None:
        self.jobs.append(job_id)


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, "condition never held"
            return result
        time.sleep(0.05)


@pytest.fixture
def ctl(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[bootstrap.Controller]:
    with running_controller(sqlite_url, str(tmp_path_factory.mktemp("state")), health_manager=HM) as controller:
        yield controller


@pytest.fixture
def api(ctl: bootstrap.Controller) -> Iterator[Api]:
    with TestClient(ctl.app) as client:
        yield Api(client)


def scanner_for(ctl: bootstrap.Controller) -> FailoverScanner:
    assert ctl.worker is not None
    return FailoverScanner(ctl.conf, ctl.db, InProcessDispatcher(ctl.worker))


def amphora_of(ctl: bootstrap.Controller, lb_id: str) -> Amphora:
    with ctl.db.session() as session:
        (amp,) = session.scalars(select(Amphora).where(Amphora.load_balancer_id == lb_id,
                                                       Amphora.status != "DELETED"))
        return amp


def amphora_status(ctl: bootstrap.Controller, amp_id: str) -> str:
    with ctl.db.session() as session:
        return session.get_one(Amphora, amp_id).status


def beat(ctl_db: Any, amp_id: str, age: float = 0.0, applied: str | None = None, busy: bool = False) -> None:
    """What the receiver writes on a good heartbeat, `age` seconds ago."""
    when = utcnow() - dt.timedelta(seconds=age)
    with ctl_db.session() as session:
        row = session.get(AmphoraHealth, amp_id)
        if row is None:
            session.add(AmphoraHealth(amphora_id=amp_id, last_update=when, busy=busy, seq=1,
                                      applied_config_hash=applied))
        else:
            row.last_update, row.busy, row.applied_config_hash = when, busy, applied


def stages(api: Api, lb_id: str) -> list[str]:
    resp = api.get(f"/v2/lbaas/loadbalancers/{lb_id}/failover_timeline")
    assert resp.status_code == 200, resp.text
    return [e["stage"] for e in resp.json()["failover_timeline"]]


def test_stale_amphora_is_replaced_and_the_timeline_tells_the_story(ctl: bootstrap.Controller, api: Api) -> None:
    stale_lb, fresh_lb, silent_lb = (api.create_lb(name=n) for n in ("stale", "fresh", "silent"))
    old = amphora_of(ctl, stale_lb["id"])
    beat(ctl.db, old.id, age=10)
    beat(ctl.db, amphora_of(ctl, fresh_lb["id"]).id, age=0)
    # silent_lb's amphora has no health row: it never reported, so it is booting, not stale.
    scanner = scanner_for(ctl)
    result = scanner.scan_once()
    assert (result.stale, result.failed_over, result.stopped) == ([old.id], [old.id], [])
    api.wait_lb(stale_lb["id"])
    new = amphora_of(ctl, stale_lb["id"])
    assert new.id != old.id and new.role == "STANDALONE" and new.status == "ALLOCATED"
    with ctl.db.session() as session:
        assert session.get(AmphoraHealth, old.id) is None  # the failed one's row is gone; the new one reports
        assert session.get_one(Amphora, old.id).status == "DELETED"
        (job,) = session.scalars(select(Job).where(Job.load_balancer_id == stale_lb["id"],
                                                   Job.kind == "amphora.failover"))
        assert job.payload == {"amphora_id": old.id}
    eventually(lambda: stages(api, stale_lb["id"]) == [
        "DETECTED", "DECIDED", "TRAFFIC_RESTORED", "REDUNDANCY_RESTORED"])
    timeline = api.get(f"/v2/lbaas/loadbalancers/{stale_lb['id']}/failover_timeline").json()["failover_timeline"]
    assert set(timeline[0]) == {"stage", "at", "amphora_id", "detail"}
    assert [e["amphora_id"] for e in timeline] == [old.id, old.id, new.id, new.id]
    assert "no heartbeat for" in timeline[0]["detail"] and job.id in timeline[1]["detail"]
    ats = [dt.datetime.fromisoformat(e["at"]) for e in timeline]
    assert ats == sorted(ats)
    # The replacement's build came first, then the failed amphora's delete, then the plug and the push.
    calls = [c for c in ctl.drivers.compute.calls if c[0] in ("build", "delete")]  # type: ignore[attr-defined]
    assert calls[-2:] == [("build", (new.id, stale_lb["id"])), ("delete", (old.compute_id,))]
    # Nothing else is stale; the other LBs were never touched.
    assert scanner.scan_once().stale == []
    assert stages(api, fresh_lb["id"]) == [] and stages(api, silent_lb["id"]) == []
    assert api.get(f"/v2/lbaas/loadbalancers/{fresh_lb['id']}").json()["loadbalancer"]["provisioning_status"] == (
        "ACTIVE")


def test_a_busy_load_balancer_is_left_alone_and_busy_released(ctl: bootstrap.Controller, api: Api) -> None:
    lb = api.create_lb()
    amp = amphora_of(ctl, lb["id"])
    beat(ctl.db, amp.id, age=10)
    with ctl.db.session() as session:
        session.execute(update(LoadBalancer).where(LoadBalancer.id == lb["id"]).values(
            provisioning_status="PENDING_UPDATE"))
    scanner = scanner_for(ctl)
    result = scanner.scan_once()
    assert (result.stale, result.failed_over) == ([amp.id], [])
    with ctl.db.session() as session:
        assert session.get_one(AmphoraHealth, amp.id).busy is False  # rolled back with the LB compare-and-set
        assert session.scalars(select(Job).where(Job.kind == "amphora.failover")).first() is None
        session.execute(update(LoadBalancer).where(LoadBalancer.id == lb["id"]).values(
            provisioning_status="ACTIVE"))
    # A busy health row (a flow or another health manager holds it) is not a candidate either.
    beat(ctl.db, amp.id, age=10, busy=True)
    assert scanner.scan_once().stale == []


def test_circuit_breaker_stops_mass_failover_and_lets_recovered_amphorae_go(ctl: bootstrap.Controller,
                                                                            api: Api) -> None:
    lbs = [api.create_lb(name=f"cb{i}") for i in range(3)]
    amps = [amphora_of(ctl, lb["id"]).id for lb in lbs]
    for amp_id in amps:
        beat(ctl.db, amp_id, age=10)
    scanner = scanner_for(ctl)
    result = scanner.scan_once()  # 3 of 3 stale > 50 %: a controller-side outage, not three dead amphorae
    assert sorted(result.stopped) == sorted(amps) and result.failed_over == []
    with ctl.db.session() as session:
        assert {session.get_one(Amphora, a).status for a in amps} == {"FAILOVER_STOPPED"}
        assert session.scalars(select(Job).where(Job.kind == "amphora.failover")).first() is None
        skipped = list(session.scalars(select(FailoverEvent).where(FailoverEvent.stage == "SKIPPED")))
        assert sorted(e.amphora_id for e in skipped) == sorted(amps)
        assert "circuit breaker: 3 of 3" in skipped[0].detail
    assert stages(api, lbs[0]["id"]) == ["SKIPPED"]
    # Still tripped on the next pass, without another SKIPPED row.
    assert scanner.scan_once().failed_over == []
    assert stages(api, lbs[0]["id"]) == ["SKIPPED"]
    # Two come back: they are ALLOCATED again; the one still silent (1 of 3) is failed over now.
    beat(ctl.db, amps[0], age=0)
    beat(ctl.db, amps[1], age=0)
    result = scanner.scan_once()
    assert sorted(result.recovered) == sorted(amps[:2]) and result.failed_over == [amps[2]]
    api.wait_lb(lbs[2]["id"])
    with ctl.db.session() as session:
        assert [session.get_one(Amphora, a).status for a in amps] == ["ALLOCATED", "ALLOCATED", "DELETED"]
    eventually(lambda: stages(api, lbs[2]["id"])[-1] == "REDUNDANCY_RESTORED")


def test_a_failover_that_cannot_build_leaves_error_and_a_failed_event(ctl: bootstrap.Controller, api: Api) -> None:
    lb = api.create_lb()
    amp = amphora_of(ctl, lb["id"])
    beat(ctl.db, amp.id, age=10)

    def broken_build(amphora_id: str, load_balancer_id: str) -> str:
        raise RuntimeError("no capacity")

    ctl.drivers.compute.build = broken_build  # type: ignore[method-assign]
    scanner = scanner_for(ctl)
    assert scanner.scan_once().failed_over == [amp.id]
    api.wait_lb(lb["id"], "ERROR")
    eventually(lambda: stages(api, lb["id"]) == ["DETECTED", "DECIDED", "FAILED"])
    failed = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}/failover_timeline").json()["failover_timeline"][-1]
    assert "no capacity" in failed["detail"]
    with ctl.db.session() as session:
        assert session.get_one(Amphora, amp.id).status == "ERROR"  # the old one was never deleted
        assert session.get_one(AmphoraHealth, amp.id).busy is False
    # ERROR amphorae are not retried automatically.
    assert scanner.scan_once().stale == []


def test_config_drift_gets_one_repush_after_two_heartbeat_intervals(ctl: bootstrap.Controller, api: Api) -> None:
    lb = api.create_lb()
    amp = amphora_of(ctl, lb["id"])
    with ctl.db.session() as session:
        session.execute(update(Amphora).where(Amphora.id == amp.id).values(config_hash="a" * 32))
    beat(ctl.db, amp.id, applied="a" * 32)
    scanner = scanner_for(ctl)
    assert scanner.scan_once().reconfigured == []  # in sync
    beat(ctl.db, amp.id, applied="b" * 32)
    assert scanner.scan_once().reconfigured == []  # a push and the next heartbeat may cross: wait
    time.sleep(0.25)  # > 2 heartbeat intervals of 0.1 s
    beat(ctl.db, amp.id, applied="b" * 32)
    result = scanner.scan_once()
    assert result.reconfigured == [amp.id] and result.failed_over == []
    driver = ctl.drivers.amphora
    eventually(lambda: driver.calls.count(("update", (lb["id"], [amp.id]))) >= 2)  # type: ignore[attr-defined]
    with ctl.db.session() as session:
        (job,) = session.scalars(select(Job).where(Job.kind == "amphora.config"))
        assert job.payload == {"amphora_id": amp.id}
    # A second health manager that sees the drift while a push is pending creates no second job.
    other = scanner_for(ctl)
    with ctl.db.session() as session:
        session.execute(update(Job).where(Job.id == job.id).values(state="PENDING"))
    other.scan_once()
    time.sleep(0.25)
    beat(ctl.db, amp.id, applied="b" * 32)
    assert other.scan_once().reconfigured == []
    # An LB that is not ACTIVE is never re-pushed from here (its own flow is pushing).
    with ctl.db.session() as session:
        session.execute(delete(Job).where(Job.id == job.id))
        session.execute(update(LoadBalancer).where(LoadBalancer.id == lb["id"]).values(
            provisioning_status="PENDING_UPDATE"))
    time.sleep(0.25)
    beat(ctl.db, amp.id, applied="b" * 32)
    assert other.scan_once().reconfigured == []


def test_scanner_service_loop_starts_and_stops(ctl: bootstrap.Controller, api: Api) -> None:
    lb = api.create_lb()
    amp = amphora_of(ctl, lb["id"])
    beat(ctl.db, amp.id, age=10)
    scanner = scanner_for(ctl)
    scanner.start(initial_delay=0.0)
    try:
        eventually(lambda: amphora_status(ctl, amp.id) == "DELETED", timeout=10)
    finally:
        scanner.stop()
    api.wait_lb(lb["id"])
    assert amphora_of(ctl, lb["id"]).id != amp.id


# -- two health managers on one PostgreSQL database --------------------------------------------------------


def _seed(db: Any, count: int) -> list[str]:
    ids = []
    with db.session() as session:
        for i in range(count):
            lb = LoadBalancer(name=f"lb{i}", project_id="p", provisioning_status="ACTIVE", operating_status="ONLINE",
                              topology="SINGLE")
            session.add(lb)
            session.flush()
            amp = Amphora(load_balancer_id=lb.id, role="STANDALONE", status="ALLOCATED")
            session.add(amp)
            session.flush()
            ids.append(amp.id)
    return ids


def _scan_together(scanners: list[FailoverScanner]) -> list[Any]:
    """One pass of each scanner, started at the same instant in its own thread."""
    barrier = threading.Barrier(len(scanners))
    results: list[Any] = [None] * len(scanners)

    def scan(index: int) -> None:
        barrier.wait(timeout=10)
        results[index] = scanners[index].scan_once()

    threads = [threading.Thread(target=scan, args=(i,)) for i in range(len(scanners))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_two_scanners_never_fail_over_the_same_amphora(tmp_path_factory: pytest.TempPathFactory) -> None:
    with fresh_database("postgresql", str(tmp_path_factory.mktemp("db"))) as url:
        conf = conf_mod.load([], {"DEFAULT": {"state_dir": str(tmp_path_factory.mktemp("state"))},
                                  "database": {"connection": url},
                                  # breaker off: every amphora is stale here on purpose
                                  "health_manager": {**HM, "failover_threshold": 0.0, "failover_threads": 50}})
        dbs = [bootstrap.database(conf) for _ in range(2)]
        try:
            bootstrap.prepare_database(conf, dbs[0])
            amps = _seed(dbs[0], 12)
            recorders = [Recorder(), Recorder()]
            scanners = [FailoverScanner(conf, db, rec) for db, rec in zip(dbs, recorders, strict=True)]
            for round_no in range(5):
                with dbs[0].session() as session:  # every round: all stale, all LBs ACTIVE, nobody busy
                    session.execute(delete(AmphoraHealth))
                    session.execute(update(LoadBalancer).values(provisioning_status="ACTIVE"))
                for amp_id in amps:
                    beat(dbs[0], amp_id, age=10)
                results = _scan_together(scanners)
                taken = [set(r.failed_over) for r in results]
                assert not taken[0] & taken[1], f"round {round_no}: both took {taken[0] & taken[1]}"
                assert taken[0] | taken[1] == set(amps)
            with dbs[0].session() as session:
                jobs = list(session.scalars(select(Job).where(Job.kind == "amphora.failover")))
                assert len(jobs) == 5 * len(amps)
                per_round_lbs = {j.load_balancer_id for j in jobs}
                assert len(per_round_lbs) == len(amps)
            assert len(recorders[0].jobs) + len(recorders[1].jobs) == 5 * len(amps)
        finally:
            for db in dbs:
                db.engine.dispose()
