"""The whole control plane down under load: the data plane does not notice, and coming back fails nothing over.

`ostia deploy` (two APIs, two workers, two health managers, housekeeping) on PostgreSQL and RabbitMQ with two
SINGLE load balancers on real local amphorae, each balancing real members. A client loads both VIPs; then the
supervisor and every service it runs are SIGKILLed and stay down for 30 s; a new `ostia deploy` starts them again
and the load goes on for 10 s more. Every request during the outage and after it succeeds, and the restarted
health managers fail nothing over although every amphora's last heartbeat in the database is 30 s old: right
after it starts, a health manager waits heartbeat_timeout before it looks for stale amphorae, so the amphorae,
which never stopped beating, report to it first (Octavia's HM waits the same way). The circuit breaker
(failover_threshold) is turned off here so that this wait alone is what is proven.

ACTIVE_STANDBY needs the netns network driver (root and namespaces); the loopback driver used here refuses it,
so both load balancers are SINGLE.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ostia import process
from ostia.db.models.base import utcnow
from tests.support.backends import Member, request
from tests.support.production import Deployment, deployment, member_servers

pytestmark = [pytest.mark.rabbit, pytest.mark.timeout(300)]

OUTAGE = 30.0
AFTER = 10.0
LOAD_LIMIT = 200.0  # the load loop ends by itself after this many seconds
LB = "/v2/lbaas/loadbalancers"
HEARTBEAT_TIMEOUT = 5  # tests.support.production.write_config's [health_manager] heartbeat_timeout


class Load:
    """One GET on a fresh connection to each VIP in turn, every 20 ms, from a thread; bounded in time."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.results: list[tuple[float, str, str | None]] = []  # (monotonic, url, member or None if failed)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        deadline = time.monotonic() + LOAD_LIMIT
        i = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            url = self.urls[i % len(self.urls)]
            i += 1
            try:
                reply = request(url, timeout=2.0)
                who = reply.member if reply.status == 200 else None
            except Exception:  # noqa: BLE001 - any failure is a failed request
                who = None
            self.results.append((time.monotonic(), url, who))
            self.stop.wait(0.02)

    def between(self, start: float, end: float) -> list[tuple[float, str, str | None]]:
        return [r for r in list(self.results) if start <= r[0] <= end]


@pytest.fixture
def members() -> Iterator[tuple[int, list[Member]]]:
    with member_servers(2) as found:
        yield found


def create_lb(dep: Deployment, name: str, subnets: dict[str, str], servers: list[Member]) -> dict[str, str]:
    status, body, _ = dep.api.call("POST", LB, {"loadbalancer": {
        "name": name, "vip_subnet_id": subnets["public-subnet"], "listeners": [{
            "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [
                    {"address": m.address, "protocol_port": m.port, "subnet_id": subnets["private-subnet"]}
                    for m in servers]}}]}})
    assert status == 201, body
    return dict(body["loadbalancer"])


def wait_lbs(dep: Deployment, lb_ids: list[str], field: str, value: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        seen = {i: dep.api.call("GET", f"{LB}/{i}")[1]["loadbalancer"][field] for i in lb_ids}
        if set(seen.values()) == {value}:
            return
        time.sleep(0.3)
    raise AssertionError(f"load balancers not {field}={value} in {timeout}s: {seen}\n{dep.logs()}")


def amphorae(dep: Deployment) -> dict[str, str]:
    with dep.db.engine.connect() as conn:
        return {r.id: r.status for r in conn.execute(text("SELECT id, status FROM amphora"))}


def test_every_controller_process_killed_for_30s_under_load_fails_no_request_and_nothing_over(
        tmp_path: Path, members: tuple[int, list[Member]]) -> None:
    net, servers = members
    with deployment(tmp_path, net, health_manager={"failover_threshold": 0,
                                                   "heartbeat_timeout": HEARTBEAT_TIMEOUT}) as dep:
        subnets = {s["name"]: s["id"] for s in dep.api.call("GET", "/v2.0/subnets")[1]["subnets"]}
        lbs = [create_lb(dep, f"cpd-{i}", subnets, servers) for i in range(2)]
        ids = [lb["id"] for lb in lbs]
        wait_lbs(dep, ids, "provisioning_status", "ACTIVE", 120)
        wait_lbs(dep, ids, "operating_status", "ONLINE", 60)  # heartbeats arrive: health rows exist
        before = amphorae(dep)
        assert sorted(before.values()) == ["ALLOCATED", "ALLOCATED"], before

        load = Load([f"http://{lb['vip_address']}:80/" for lb in lbs])
        load.thread.start()
        try:
            time.sleep(2)
            down_at = time.monotonic()
            killed = dep.kill_everything()
            assert not [p for p in killed if process.alive(p)]
            time.sleep(OUTAGE)
            # The hazard is real: every amphora's last heartbeat in the database is far beyond heartbeat_timeout,
            # so a health manager that scanned at once would fail the whole fleet over.
            with dep.db.engine.connect() as conn:
                newest = conn.execute(text("SELECT max(last_update) FROM amphora_health")).scalar()
            stale_for = (utcnow() - newest).total_seconds()
            assert stale_for > OUTAGE - 1 > HEARTBEAT_TIMEOUT
            up_from = time.monotonic()
            dep.start()  # a new supervisor: db upgrade (a no-op), then every service
            up_at = time.monotonic()
            time.sleep(AFTER)
        finally:
            load.stop.set()
            load.thread.join(10)
        end = time.monotonic()

        outage = load.between(down_at, up_at)
        after = load.between(up_at, end)
        failed = [r for r in load.results if r[2] is None]
        print(f"\ncontrol plane down: {len(killed)} processes SIGKILLed, down {up_from - down_at:.1f} s, "
              f"{up_at - up_from:.1f} s to start again; {len(outage)} requests while down, {len(after)} in the "
              f"{AFTER:.0f} s after, {len(load.results)} in all, {len(failed)} failed; newest heartbeat in the "
              f"database {stale_for:.0f} s old at the restart")
        assert len(killed) == len(dep.services()) + 1  # the supervisor too
        assert len(outage) > 100 and len(after) > 50
        assert {r[2] for r in load.results} == {m.name for m in servers}
        assert failed == []

        with dep.db.engine.connect() as conn:
            jobs = conn.execute(text("SELECT kind, state FROM job WHERE kind = 'amphora.failover'")).all()
            events = conn.execute(text("SELECT count(*) FROM failover_event")).scalar()
        assert jobs == [] and events == 0, f"failover after the restart: {jobs}, {events} timeline events"
        assert amphorae(dep) == before
        wait_lbs(dep, ids, "provisioning_status", "ACTIVE", 5)
