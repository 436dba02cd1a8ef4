"""Chaos on the production layout: 200 mixed API operations while APIs, workers and health managers are SIGKILLed.

`ostia deploy` runs two APIs, two workers and two health managers on a fresh PostgreSQL database and a RabbitMQ
topic of their own, with real local amphorae (agent + HAProxy) and real member servers. Six client threads
each own their load balancers and run a bounded, seeded mix of creates, updates and deletes (cascade too) of load
balancers, listeners, pools, members and health monitors, a few of them deliberately wrong, through both APIs:
a request that fails at the connection level is sent to the other API, as behind a VIP. Meanwhile a harness
SIGKILLs a random API, worker or health manager every few seconds; the supervisor starts it again.

Afterwards, within bounded waits: nothing stays PENDING_*; every object an API acknowledged (201/202) and the
client did not delete is still there and every deleted one is gone; no API ever answered 5xx; every ACTIVE load
balancer's applied haproxy.cfg is what its rows render to (and the hash the worker recorded); no amphora
directory is left without its row; no amphora was failed over (none died); every listener whose pool has a
member taking traffic answers through its VIP from a member.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.backends import Member, request
from tests.support.production import Deployment, deployment, member_servers

pytestmark = [pytest.mark.rabbit, pytest.mark.timeout(420)]

OPERATIONS = 200
CLIENTS = 6
KILL_EVERY = (2.0, 4.0)  # seconds between two kills
MIN_KILLS = 10  # the operations go on (past OPERATIONS, up to CHAOS_LIMIT) until this many kills happened
CHAOS_LIMIT = 240.0  # seconds: the operations stop here even if not all ran
SETTLE = 30.0  # nothing may stay PENDING_* longer than this once the killing stops
ACTIVE_WAIT = 90.0
LB = "/v2/lbaas/loadbalancers"
MISSING = "00000000-0000-4000-8000-000000000000"


@dataclass
class Ledger:
    """What the APIs acknowledged: created ids (by table) and deleted ids; unexpected answers."""

    created: dict[str, str] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, op: str) -> None:
        with self.lock:
            self.counts[op] = self.counts.get(op, 0) + 1

    def total(self) -> int:
        with self.lock:
            return sum(self.counts.values())


@dataclass
class Tree:
    """One load balancer as the API shows it now."""

    listeners: list[dict[str, Any]]
    pools: list[dict[str, Any]]

    def members(self) -> list[tuple[str, str]]:
        return [(p["id"], m["id"]) for p in self.pools for m in p["members"]]

    def health_monitors(self) -> list[str]:
        return [p["healthmonitor_id"] for p in self.pools if p.get("healthmonitor_id")]


class Client:
    def __init__(self, dep: Deployment, ledger: Ledger, rng: random.Random, members: list[Member],
                 subnets: dict[str, str], budget: Callable[[], bool]) -> None:
        self.dep, self.ledger, self.rng, self.members, self.subnets = dep, ledger, rng, members, subnets
        self.budget = budget
        self.lbs: list[str] = []

    # -- plumbing -------------------------------------------------------------------------------------
    def call(self, op: str, method: str, path: str, body: Any, want: tuple[int, ...]) -> tuple[int, Any, bool]:
        status, data, retried = self.dep.api.call(method, path, body)
        self.ledger.note(op)
        ok = status in want or (retried and status in (404, 409))  # a re-sent request whose first try landed
        if status >= 500 or not ok:
            self.ledger.unexpected.append(f"{time.strftime('%H:%M:%S')} {op}: {method} {path} -> {status} {data} "
                                          f"(retried={retried})")
        return status, data, retried

    def tree(self, lb_id: str) -> Tree:
        _, listeners, _ = self.dep.api.call("GET", f"/v2/lbaas/listeners?loadbalancer_id={lb_id}")
        _, pools, _ = self.dep.api.call("GET", f"/v2/lbaas/pools?loadbalancer_id={lb_id}")
        found = pools["pools"] if pools else []
        for p in found:  # the pool shows only its members' ids
            _, body, _ = self.dep.api.call("GET", f"/v2/lbaas/pools/{p['id']}/members")
            p["members"] = body["members"] if body and "members" in body else []
        return Tree(listeners["listeners"] if listeners else [], found)

    def wait_active(self, lb_id: str) -> str:
        deadline = time.monotonic() + ACTIVE_WAIT
        status = "?"
        while time.monotonic() < deadline:
            code, data, _ = self.dep.api.call("GET", f"{LB}/{lb_id}")
            if code == 404:
                return "DELETED"
            status = data["loadbalancer"]["provisioning_status"]
            if status in ("ACTIVE", "ERROR"):
                return str(status)
            time.sleep(0.2)
        self.ledger.unexpected.append(f"lb={lb_id} still {status} after {ACTIVE_WAIT}s")
        return status

    def acknowledge(self, lb_id: str) -> None:
        """Children made by a single-call create were acknowledged with their load balancer's 201."""
        t = self.tree(lb_id)
        with self.ledger.lock:
            for li in t.listeners:
                self.ledger.created.setdefault(li["id"], "listener")
            for p in t.pools:
                self.ledger.created.setdefault(p["id"], "pool")
                if p.get("healthmonitor_id"):
                    self.ledger.created.setdefault(p.get("healthmonitor_id"), "health_monitor")
                for m in p["members"]:
                    self.ledger.created.setdefault(m["id"], "member")

    def created(self, table: str, key: str, status: int, data: Any) -> str | None:
        if status in (201, 202) and data:
            obj_id = str(data[key]["id"])
            with self.ledger.lock:
                self.ledger.created[obj_id] = table
            return obj_id
        return None

    def gone(self, *ids: str) -> None:
        with self.ledger.lock:
            self.ledger.deleted.update(ids)

    # -- operations -----------------------------------------------------------------------------------
    def member_body(self, used: set[tuple[str, int]]) -> dict[str, Any] | None:
        free = [m for m in self.members if (m.address, m.port) not in used]
        if not free:
            return None
        m = self.rng.choice(free)
        return {"address": m.address, "protocol_port": m.port, "subnet_id": self.subnets["private-subnet"]}

    def create_lb(self) -> None:
        body: dict[str, Any] = {"name": f"chaos-{uuid.uuid4().hex[:6]}", "vip_subnet_id": self.subnets["public-subnet"]}
        if self.rng.random() < 0.5:  # the whole tree in one call
            body["listeners"] = [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [self.member_body(set())],
                "healthmonitor": {"type": "HTTP", "delay": 2, "timeout": 1, "max_retries": 2}}}]
        status, data, _ = self.call("lb_create", "POST", LB, {"loadbalancer": body}, (201,))
        lb_id = self.created("load_balancer", "loadbalancer", status, data)
        if lb_id:
            self.lbs.append(lb_id)
            if self.wait_active(lb_id) == "ACTIVE":
                self.acknowledge(lb_id)

    def delete_lb(self, lb_id: str) -> None:
        t = self.tree(lb_id)
        status, _, retried = self.call("lb_cascade_delete", "DELETE", f"{LB}/{lb_id}?cascade=true", None, (204,))
        if status == 204 or (retried and status in (404, 409)):  # 409: our first try made it PENDING_DELETE
            self.gone(lb_id, *(li["id"] for li in t.listeners), *(p["id"] for p in t.pools),
                      *(m for _, m in t.members()), *t.health_monitors())
            self.lbs.remove(lb_id)
            self.wait_deleted(lb_id)

    def wait_deleted(self, lb_id: str) -> None:
        deadline = time.monotonic() + ACTIVE_WAIT
        while time.monotonic() < deadline:
            if self.dep.api.call("GET", f"{LB}/{lb_id}")[0] == 404:
                return
            time.sleep(0.2)
        self.ledger.unexpected.append(f"lb={lb_id} not gone {ACTIVE_WAIT}s after its delete")

    def step(self, lb_id: str) -> None:  # noqa: C901 - one menu of operations
        t = self.tree(lb_id)
        choices: list[Callable[[], Any]] = []
        ports = {li["protocol_port"] for li in t.listeners}
        if len(t.listeners) < 3:
            port = min(set(range(80, 90)) - ports)
            choices.append(lambda: self.created("listener", "listener", *self.call(
                "listener_create", "POST", "/v2/lbaas/listeners", {"listener": {
                    "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": port}}, (201,))[:2]))
        bare = [li for li in t.listeners if not li["default_pool_id"]]
        if len(t.pools) < 3:
            owner = {"listener_id": bare[0]["id"]} if bare else {"loadbalancer_id": lb_id}
            choices.append(lambda: self.created("pool", "pool", *self.call(
                "pool_create", "POST", "/v2/lbaas/pools", {"pool": {
                    **owner, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, (201,))[:2]))
        for p in t.pools:
            used = {(m["address"], m["protocol_port"]) for m in p["members"]}
            body = self.member_body(used) if len(p["members"]) < 2 else None
            if body:
                choices.append(lambda p=p, body=body: self.created("member", "member", *self.call(
                    "member_create", "POST", f"/v2/lbaas/pools/{p['id']}/members", {"member": body}, (201,))[:2]))
            if not p.get("healthmonitor_id"):
                choices.append(lambda p=p: self.created("health_monitor", "healthmonitor", *self.call(
                    "hm_create", "POST", "/v2/lbaas/healthmonitors", {"healthmonitor": {
                        "pool_id": p["id"], "type": "HTTP", "delay": 2, "timeout": 1, "max_retries": 2}},
                    (201,))[:2]))
            else:
                hm = p.get("healthmonitor_id")
                choices.append(lambda hm=hm: self.call("hm_update", "PUT", f"/v2/lbaas/healthmonitors/{hm}", {
                    "healthmonitor": {"delay": self.rng.randint(2, 5)}}, (200,)))
                choices.append(lambda hm=hm: self.delete("hm_delete", f"/v2/lbaas/healthmonitors/{hm}", hm))
            choices.append(lambda p=p: self.call("pool_update", "PUT", f"/v2/lbaas/pools/{p['id']}", {"pool": {
                "lb_algorithm": self.rng.choice(["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"])}}, (200,)))
            choices.append(lambda p=p: self.delete("pool_delete", f"/v2/lbaas/pools/{p['id']}", p["id"],
                                                   *(m["id"] for m in p["members"]),
                                                   *([p.get("healthmonitor_id")] if p.get("healthmonitor_id") else [])))
            # deliberate errors: 400 on a bad address, 400 on an unknown algorithm
            choices.append(lambda p=p: self.call("bad_member", "POST", f"/v2/lbaas/pools/{p['id']}/members", {
                "member": {"address": "not-an-ip", "protocol_port": 80}}, (400,)))
            choices.append(lambda p=p: self.call("bad_pool_update", "PUT", f"/v2/lbaas/pools/{p['id']}", {
                "pool": {"lb_algorithm": "BOGUS"}}, (400,)))
        for pool_id, member_id in t.members():
            path = f"/v2/lbaas/pools/{pool_id}/members/{member_id}"
            choices.append(lambda path=path: self.call("member_update", "PUT", path, {"member": {
                "weight": self.rng.randint(0, 10)}}, (200,)))
            choices.append(lambda path=path, m=member_id: self.delete("member_delete", path, m))
        for li in t.listeners:
            path = f"/v2/lbaas/listeners/{li['id']}"
            choices.append(lambda path=path: self.call("listener_update", "PUT", path, {"listener": {
                "connection_limit": self.rng.randint(100, 1000)}}, (200,)))
            choices.append(lambda path=path, li=li: self.delete("listener_delete", path, li["id"]))
            # deliberate error: a second listener on a taken port
            choices.append(lambda li=li: self.call("dup_listener", "POST", "/v2/lbaas/listeners", {"listener": {
                "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": li["protocol_port"]}}, (409,)))
        if not choices or self.rng.random() < 0.2:
            choices.append(lambda: self.call("missing_pool", "PUT", f"/v2/lbaas/pools/{MISSING}", {"pool": {
                "name": "x"}}, (404,)))
        self.rng.choice(choices)()
        if self.wait_active(lb_id) == "ERROR":  # a reverted flow: the operator's way out is a cascade delete
            self.ledger.unexpected.append(f"lb={lb_id} went ERROR")
            self.delete_lb(lb_id)

    def delete(self, op: str, path: str, *ids: str) -> None:
        status, _, retried = self.call(op, "DELETE", path, None, (204,))
        if status == 204 or (retried and status in (404, 409)):  # the first try went through
            self.gone(*ids)

    def run(self) -> None:
        while self.budget():
            # few load balancers (each boots an amphora), many operations on their trees
            if not self.lbs or (len(self.lbs) < 2 and self.rng.random() < 0.05):
                self.create_lb()
            elif self.rng.random() < 0.04:
                self.delete_lb(self.rng.choice(self.lbs))
            else:
                self.step(self.rng.choice(self.lbs))


class Killer:
    """SIGKILLs a random running API, worker or health manager every few seconds; the supervisor restarts it.
    An API is only killed while the other one answers (with no backend left a VIP is an outage, not chaos)."""

    def __init__(self, dep: Deployment, rng: random.Random) -> None:
        self.dep, self.rng = dep, rng
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(self.rng.uniform(*KILL_EVERY)):
            victim = self.rng.choice([s for s in self.dep.services() if s != "housekeeping"])
            if not self.dep.ready(victim):  # still starting after the last kill: a running one is the point
                continue
            if victim.startswith("api-"):
                other = "api-2" if victim == "api-1" else "api-1"
                if not self.dep.ready(other):
                    continue
            self.dep.kill(victim)


@pytest.fixture
def members() -> Iterator[tuple[int, list[Member]]]:
    with member_servers(3) as found:
        yield found


def test_chaos_kills_leave_no_pending_no_lost_rows_and_haproxy_matching_the_database(
        tmp_path: Path, members: tuple[int, list[Member]]) -> None:
    net, servers = members
    seed = random.randrange(1 << 30)
    # Many kills hit the same job: resume it rather than revert it (a revert is right, but not what is proven).
    with deployment(tmp_path, net, jobs={"max_attempts": 20}) as dep:
        _, subnets_body, _ = dep.api.call("GET", "/v2.0/subnets")
        subnets = {s["name"]: s["id"] for s in subnets_body["subnets"]}
        ledger = Ledger()
        deadline = time.monotonic() + CHAOS_LIMIT
        budget = lambda: ((ledger.total() < OPERATIONS or len(dep.kills) < MIN_KILLS)  # noqa: E731
                          and time.monotonic() < deadline)
        clients = [Client(dep, ledger, random.Random(seed + i), servers, subnets, budget) for i in range(CLIENTS)]
        killer = Killer(dep, random.Random(seed))
        started = time.monotonic()
        errors: list[BaseException] = []

        def guarded(c: Client) -> None:
            try:
                c.run()
            except BaseException as exc:  # surfaced below, with the logs
                errors.append(exc)

        threads = [threading.Thread(target=guarded, args=(c,), daemon=True) for c in clients]
        killer.thread.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(CHAOS_LIMIT + 2 * ACTIVE_WAIT)
        killer.stop.set()
        killer.thread.join(10)
        chaos_seconds = time.monotonic() - started
        assert not errors, f"seed={seed}: {errors[0]!r}\n{dep.logs()}"

        dep.wait_up()  # every killed service is back
        settle_start = time.monotonic()
        pending = dep.pending()
        while pending and time.monotonic() - settle_start < SETTLE:
            time.sleep(0.5)
            pending = dep.pending()
        print(f"\nchaos: seed {seed}, {ledger.total()} operations {dict(sorted(ledger.counts.items()))}, "
              f"{len(dep.kills)} kills {sorted(set(dep.kills))}, {dep.api.retried} requests re-sent to the other "
              f"API, {chaos_seconds:.0f} s of chaos, settled in {time.monotonic() - settle_start:.1f} s")
        assert ledger.total() >= OPERATIONS, f"only {ledger.total()} operations in {CHAOS_LIMIT}s"
        assert len(dep.kills) >= MIN_KILLS, f"only {len(dep.kills)} kills in {CHAOS_LIMIT}s"
        assert not pending, f"still PENDING_* {SETTLE}s after the chaos: {pending}\n{dep.logs()}"
        assert not ledger.unexpected, "\n".join(ledger.unexpected[:20]) + f"\nseed={seed}\n{dep.logs()}"

        with dep.db.engine.connect() as conn:
            rows = {r.id: r.provisioning_status for table in set(ledger.created.values()) for r in conn.execute(
                text(f"SELECT id, provisioning_status FROM {table}"))}  # noqa: S608
            failovers = conn.execute(text("SELECT count(*) FROM job WHERE kind = 'amphora.failover'")).scalar()
            amp_ids = set(conn.execute(text("SELECT id FROM amphora WHERE status <> 'DELETED'")).scalars())
        kept = {i for i in ledger.created if i not in ledger.deleted}
        lost = {i: ledger.created[i] for i in kept if rows.get(i) in (None, "DELETED")}
        undead = {i: rows[i] for i in ledger.deleted if rows.get(i) not in (None, "DELETED")}
        assert not lost, f"acknowledged and never deleted, but gone: {lost}"
        assert not undead, f"deleted (204) but still there: {undead}"
        assert not (mismatch := dep.haproxy_mismatches()), "\n".join(mismatch)
        dirs = {d.name for d in (dep.state / "amphorae").iterdir() if d.is_dir() and not d.name.startswith(".")}
        assert dirs <= amp_ids, f"amphora directories without a live row (leaked agents): {dirs - amp_ids}"
        assert failovers == 0, "an amphora was failed over although none died"
        answers = {url: request(url, timeout=5).member for url in dep.serving_urls()}
        print(f"chaos: {len(answers)} listeners with members serve through their VIPs")
        assert None not in answers.values(), answers
