"""`ostia api` and `ostia worker` as separate processes over RabbitMQ, and workers killed mid-flow.

Every test gets its own PostgreSQL database and its own oslo.messaging topic (so concurrent runs never
share a queue), starts real `ostia` subprocesses and talks HTTP to the API. Workers are killed with SIGKILL
while their flows are half way; the proof is that another worker process finishes (or reverts) every job
and no object is left PENDING_*. Every wait is bounded; every process is killed at teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.databases import fresh_database
from tests.support.processes import NOOP_ARGS, free_port

pytestmark = pytest.mark.rabbit

OSTIA = Path(sys.executable).parent / "ostia"
RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672
TRANSPORT_URL = f"rabbit://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/"
PUBLIC_SUBNET = "d05a7bde-cca3-5925-ad49-7a8b3df07363"
START_TIMEOUT = 60.0
SETTLE_TIMEOUT = 90.0
PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")
# The killed worker's settings: slow driver calls hold its flows mid-way; a short lease and sweep make
# recovery by the next worker quick.
SLOW = ("controller_worker.noop_task_delay=1.5", "jobs.lease_seconds=3", "jobs.sweep_interval=1",
        "controller_worker.workers=8")
RESCUER = ("jobs.lease_seconds=3", "jobs.sweep_interval=1")


def _wait(what: str, check: Callable[[], Any], timeout: float, diagnose: Callable[[], str] = str) -> Any:
    """Poll `check` until it returns something truthy; fail with `diagnose()` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{diagnose()}")
        time.sleep(0.1)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 4000) -> str:
        try:
            return f"--- {self.name} (pid {self.pid}) ---\n" + self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Cluster:
    """An `ostia api` process, any number of `ostia worker` processes, one database, one topic."""

    def __init__(self, tmp: Path, db_url: str) -> None:
        self.tmp = tmp
        self.db_url = db_url
        self.topic = f"ostia-test-{uuid.uuid4().hex[:12]}"
        self.port = free_port()
        self.procs: list[Proc] = []
        self.engine = create_engine(db_url)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=15,
                                 headers={"X-Project-Id": "p1", "X-Auth-Token": "notused"})

    # -- processes -------------------------------------------------------------------------------
    def _argv(self, sets: tuple[str, ...]) -> list[str]:
        argv = [str(OSTIA), "--state-dir", str(self.tmp / "state"),
                "--set", f"DEFAULT.transport_url={TRANSPORT_URL}", "--set", f"jobs.topic={self.topic}",
                "--set", f"database.connection={self.db_url}", "--set", f"api_settings.bind_port={self.port}",
                *NOOP_ARGS]
        for item in sets:
            argv += ["--set", item]
        return argv

    def _start(self, name: str, command: str, sets: tuple[str, ...]) -> Proc:
        argv = self._argv(sets)
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen([*argv, command], stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_api(self) -> Proc:
        # As in production: the schema is migrated once, before any service starts.
        subprocess.run([*self._argv(()), "db", "upgrade"], check=True, capture_output=True, timeout=START_TIMEOUT)
        proc = self._start("api", "api", ())

        def up() -> bool:
            if not proc.alive():
                pytest.fail(f"ostia api exited with {proc.popen.returncode}\n{proc.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                return self.http.get("/").status_code == 200
            return False

        _wait("ostia api to answer", up, START_TIMEOUT, self.diagnose)
        return proc

    def start_worker(self, name: str, *sets: str) -> Proc:
        proc = self._start(name, "worker", sets)

        def listening() -> bool:
            if not proc.alive():
                pytest.fail(f"ostia worker exited with {proc.popen.returncode}\n{proc.tail()}")
            return "listening on topic" in proc.log.read_text(errors="replace")

        _wait(f"worker {name} to listen", listening, START_TIMEOUT, self.diagnose)
        return proc

    def sigkill(self, proc: Proc) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.popen.wait(timeout=10)

    def close(self) -> None:
        self.http.close()
        for proc in self.procs:
            if proc.alive():
                proc.popen.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=10)
        self.engine.dispose()
        _delete_queues(self.topic)

    def diagnose(self) -> str:
        return "\n".join([f"jobs: {self.jobs()}", *(p.tail() for p in self.procs)])

    # -- API -------------------------------------------------------------------------------------
    def create_lb(self, name: str, **children: Any) -> str:
        """A load balancer; `listeners=[...]` makes it a single-call create with its whole tree."""
        resp = self.http.post("/v2/lbaas/loadbalancers",
                              json={"loadbalancer": {"name": name, "vip_subnet_id": PUBLIC_SUBNET, **children}})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["loadbalancer"]["id"])

    def create_member(self, pool_id: str, address: str) -> str:
        resp = self.http.post(f"/v2/lbaas/pools/{pool_id}/members",
                              json={"member": {"address": address, "protocol_port": 8080}})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["member"]["id"])

    def delete_lb(self, lb_id: str) -> None:
        resp = self.http.delete(f"/v2/lbaas/loadbalancers/{lb_id}")
        assert resp.status_code == 204, resp.text

    def tree(self, lb_id: str) -> dict[str, str]:
        """provisioning_status of the LB and every object in its status tree, by id; {lb_id: DELETED} on 404."""
        resp = self.http.get(f"/v2/lbaas/loadbalancers/{lb_id}/status")
        if resp.status_code == 404:
            return {lb_id: "DELETED"}
        assert resp.status_code == 200, resp.text
        found: dict[str, str] = {}

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if "id" in node and "provisioning_status" in node:
                    found[node["id"]] = node["provisioning_status"]
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(resp.json())
        return found

    def statuses(self, lb_ids: list[str]) -> dict[str, str]:
        """Every object of these load balancers' trees."""
        return {obj: status for lb_id in lb_ids for obj, status in self.tree(lb_id).items()}

    def wait_settled(self, lb_ids: list[str], timeout: float = SETTLE_TIMEOUT) -> dict[str, str]:
        """Until no object of these trees is PENDING_*; returns the final statuses."""
        def settled() -> dict[str, str] | None:
            now = self.statuses(lb_ids)
            return None if any(s in PENDING for s in now.values()) else now
        return dict(_wait("every object to leave PENDING_*", settled, timeout, self.diagnose))

    # -- job rows --------------------------------------------------------------------------------
    def jobs(self) -> dict[str, dict[str, Any]]:
        """The latest job row of each load balancer, by its id (an LB runs one job at a time)."""
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT load_balancer_id, kind, state, owner, attempts FROM job "
                                     "ORDER BY created_at")).mappings()
            return {r["load_balancer_id"]: dict(r) for r in rows}

    def wait_claimed(self, lb_ids: list[str], by: Proc) -> None:
        """Until the job of every LB is RUNNING under a worker of process `by`."""
        def claimed() -> bool:
            jobs = self.jobs()
            return all(jobs[i]["state"] == "RUNNING" and owner_pid(jobs[i]) == by.pid for i in lb_ids)
        _wait(f"{by.name} to claim the jobs", claimed, 20, self.diagnose)


def owner_pid(job: dict[str, Any]) -> int | None:
    """Worker names are host:pid:random."""
    parts = str(job["owner"] or "").split(":")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None


def _delete_queues(topic: str) -> None:
    """oslo.messaging's topic queues outlive their consumers; remove this test's from the broker."""
    import amqp

    with contextlib.suppress(Exception):
        conn = amqp.Connection(f"{RABBIT_HOST}:{RABBIT_PORT}", userid="guest", password="guest",
                               connect_timeout=5)
        conn.connect()
        try:
            channel = conn.channel()
            for queue in (topic, f"{topic}.{socket.gethostname()}"):
                channel.queue_delete(queue)
        finally:
            conn.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    try:
        socket.create_connection((RABBIT_HOST, RABBIT_PORT), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"RabbitMQ is not reachable on {RABBIT_HOST}:{RABBIT_PORT} ({exc}); "
                    "deselect these tests with -m 'not rabbit'")
    with fresh_database("postgresql", str(tmp_path)) as url:
        c = Cluster(tmp_path, url)
        try:
            yield c
        finally:
            c.close()


def test_api_and_worker_processes_share_jobs_over_rabbit(cluster: Cluster) -> None:
    cluster.start_api()
    # The sweep of this worker is far slower than the test: jobs can only arrive as RPC casts.
    worker = cluster.start_worker("worker", "jobs.sweep_interval=300")
    lbs = [cluster.create_lb(f"lb{i}") for i in range(3)]
    assert cluster.wait_settled(lbs, timeout=30) == dict.fromkeys(lbs, "ACTIVE")
    cluster.delete_lb(lbs[0])
    assert cluster.wait_settled(lbs, timeout=30) == {lbs[0]: "DELETED", lbs[1]: "ACTIVE", lbs[2]: "ACTIVE"}

    jobs = cluster.jobs()
    assert sorted((j["kind"], j["state"], j["attempts"]) for j in jobs.values()) == [
        ("load_balancer.create", "DONE", 1), ("load_balancer.create", "DONE", 1),
        ("load_balancer.delete", "DONE", 1)]
    assert {owner_pid(j) for j in jobs.values()} == {worker.pid}


def _full_tree(name: str) -> dict[str, Any]:
    """Single-call create body: a listener whose default pool has two members."""
    members = [{"address": f"192.0.2.{n}", "protocol_port": 8080} for n in (10, 11)]
    return {"listeners": [{"name": f"{name}-listener", "protocol": "HTTP", "protocol_port": 80,
                           "default_pool": {"name": f"{name}-pool", "protocol": "HTTP",
                                            "lb_algorithm": "ROUND_ROBIN", "members": members}}]}


@pytest.mark.parametrize("max_attempts", [3, 1], ids=["resumed", "reverted"])
def test_worker_killed_mid_flow_leaves_nothing_pending(cluster: Cluster, max_attempts: int) -> None:
    cluster.start_api()
    first = cluster.start_worker("first", "jobs.sweep_interval=1")
    doomed = [cluster.create_lb(f"doomed{i}") for i in range(2)]
    parent = cluster.create_lb("parent", **_full_tree("parent"))
    before = cluster.wait_settled([*doomed, parent], timeout=30)
    assert set(before.values()) == {"ACTIVE"} and len(before) == 2 + 5, before  # parent: LB, L, P, 2 M
    pool_id = cluster.http.get(f"/v2/lbaas/loadbalancers/{parent}").json()["loadbalancer"]["pools"][0]["id"]
    first.popen.terminate()  # a clean stop; the next worker is the slow one that gets killed
    first.popen.wait(timeout=20)

    # In flight at once: LB creates (one with its whole tree), LB deletes, a member create.
    slow = cluster.start_worker("slow", *SLOW)
    created = [cluster.create_lb(f"new{i}") for i in range(2)] + [cluster.create_lb("full", **_full_tree("full"))]
    for lb_id in doomed:
        cluster.delete_lb(lb_id)
    member = cluster.create_member(pool_id, "192.0.2.20")
    everything = [*created, *doomed, parent]
    cluster.wait_claimed(everything, by=slow)
    time.sleep(0.5)  # mid-flow: inside a driver call (1.5 s each, 2-6 per flow, so >= 3 s per flow)
    trees = {lb_id: cluster.tree(lb_id) for lb_id in everything}
    pending = {obj: status for tree in trees.values() for obj, status in tree.items()}
    in_created = {obj for lb_id in created for obj in trees[lb_id]}
    in_parent = set(trees[parent])
    assert len(in_created) == 2 + 5  # two bare LBs, and full's LB, listener, pool, 2 members
    assert {pending[obj] for obj in in_created} == {"PENDING_CREATE"}
    assert [pending[lb_id] for lb_id in doomed] == ["PENDING_DELETE"] * 2
    assert (pending[parent], pending[member]) == ("PENDING_UPDATE", "PENDING_CREATE")
    assert in_parent == set(before) - set(doomed) | {member}
    cluster.sigkill(slow)
    assert cluster.statuses(everything) == pending  # nobody is left to move them

    # A new worker process finds the lapsed leases and, within max_attempts, runs the flows again;
    # beyond it reverts them.
    rescuer = cluster.start_worker("rescuer", *RESCUER, f"jobs.max_attempts={max_attempts}")
    final = cluster.wait_settled(everything)
    jobs = cluster.jobs()
    if max_attempts > 1:
        expected = {**dict.fromkeys(in_created, "ACTIVE"), **dict.fromkeys(doomed, "DELETED"),
                    **dict.fromkeys(in_parent, "ACTIVE")}
        assert {i: jobs[i]["state"] for i in everything} == dict.fromkeys(everything, "DONE")
    else:  # LB-level reverts: the tree goes ERROR; a child revert: the child ERROR, its parents ACTIVE
        expected = {**dict.fromkeys(in_created, "ERROR"), **dict.fromkeys(doomed, "ERROR"),
                    **dict.fromkeys(in_parent, "ACTIVE"), member: "ERROR"}
        assert {i: jobs[i]["state"] for i in everything} == dict.fromkeys(everything, "REVERTED")
    assert final == expected
    assert {i: (owner_pid(jobs[i]), jobs[i]["attempts"]) for i in everything} == \
        dict.fromkeys(everything, (rescuer.pid, 2))
    with cluster.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM job WHERE state NOT IN ('DONE', 'REVERTED')")).scalar() == 0


def test_surviving_worker_recovers_the_jobs_of_a_killed_one(cluster: Cluster) -> None:
    cluster.start_api()
    workers = [cluster.start_worker(f"w{i}", *SLOW) for i in range(2)]
    lbs = [cluster.create_lb(f"lb{i}") for i in range(6)]

    def all_claimed() -> dict[str, Any] | None:
        jobs = cluster.jobs()
        return jobs if all(jobs[i]["state"] == "RUNNING" for i in lbs) else None

    jobs = _wait("both workers to claim the jobs", all_claimed, 20, cluster.diagnose)
    by_pid = {w.pid: [i for i in lbs if owner_pid(jobs[i]) == w.pid] for w in workers}
    assert sum(len(v) for v in by_pid.values()) == len(lbs), jobs
    victim = max(workers, key=lambda w: len(by_pid[w.pid]))
    survivor = next(w for w in workers if w is not victim)
    orphans = by_pid[victim.pid]
    time.sleep(1.0)  # mid-flow: an LB create makes 6 driver calls of 1.5 s
    assert cluster.statuses(lbs) == dict.fromkeys(lbs, "PENDING_CREATE")
    cluster.sigkill(victim)

    # Only the survivor is left: its own sweep must take over the orphans once their leases lapse.
    assert cluster.wait_settled(lbs) == dict.fromkeys(lbs, "ACTIVE")
    assert survivor.alive()
    jobs = cluster.jobs()
    assert {i: (jobs[i]["state"], owner_pid(jobs[i]), jobs[i]["attempts"]) for i in orphans} == \
        dict.fromkeys(orphans, ("DONE", survivor.pid, 2))
    assert {jobs[i]["state"] for i in lbs} == {"DONE"}
    assert "recovered by" in survivor.log.read_text(errors="replace")
