"""The agent's heartbeats, received on a real UDP socket from a real `ostia agent` driving real HAProxy.

The agent is pointed at sockets this test binds on 127.0.0.1; every beat is decoded with ostia.heartbeat.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ostia import heartbeat, process
from ostia.agent import stats
from tests.functional.heartbeat_support import INTERVAL, Receiver, heartbeat_agent
from tests.support.agent import Agent, backend_haproxy, started
from tests.support.processes import free_port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


class Lb:
    """Ids and a haproxy.cfg named the way Ostia's renderer names things: frontend <listener_id>, backend
    <pool_id>:<listener_id>, server <member_id>."""

    def __init__(self, agent: Agent, port: int, up1: int, up2: int) -> None:
        self.agent = agent
        self.id, self.listener, self.pool = (str(uuid.uuid4()) for _ in range(3))
        self.port = port
        self.members = {name: str(uuid.uuid4()) for name in ("m1", "m2", "drain", "maint", "nocheck")}
        self.up1, self.up2 = up1, up2

    @property
    def backend(self) -> str:
        return f"{self.pool}:{self.listener}"

    def config(self, generation: str = "1") -> bytes:
        base, m = self.agent.base_path, self.members
        check = "check inter 100ms fall 1 rise 1"
        return (f"global\n    stats socket {base}/{self.id}.sock mode 600 level admin expose-fd listeners\n"
                f"    maxconn 1000\n"
                "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n"
                "    timeout server 10s\n"
                f"frontend {self.listener}\n    bind 127.0.0.1:{self.port}\n    maxconn 100\n"
                f"    http-response set-header X-Generation {generation}\n"
                f"    default_backend {self.backend}\n"
                f"backend {self.backend}\n"
                f"    server {m['m1']} 127.0.0.1:{self.up1} weight 1 {check}\n"
                f"    server {m['m2']} 127.0.0.1:{self.up2} weight 1 {check}\n"
                f"    server {m['drain']} 127.0.0.1:{self.up1} weight 0 {check}\n"
                f"    server {m['maint']} 127.0.0.1:{self.up2} weight 1 {check} disabled\n"
                f"    server {m['nocheck']} 127.0.0.1:{self.up1} weight 1\n").encode()

    def push(self, generation: str = "1", action: str = "start") -> bytes:
        body = self.config(generation)
        resp = self.agent.put(f"/1.0/loadbalancer/{self.agent.amphora_id}/{self.id}/haproxy", content=body)
        assert resp.status_code == 202, resp.text
        resp = self.agent.put(f"/1.0/loadbalancer/{self.id}/{action}")
        assert resp.status_code == 202, resp.text
        return body

    def frontend(self) -> dict[str, str]:
        rows = stats.show_stat(self.agent.base_path / f"{self.id}.sock")
        return next(r for r in rows if r["pxname"] == self.listener and r["svname"] == "FRONTEND")

    def members_are(self, beat: dict[str, Any], **expected: str) -> bool:
        got = beat["pools"].get(self.backend, {}).get("members", {})
        return all(got.get(self.members[name]) == status for name, status in expected.items())


def _requests(port: int, count: int) -> None:
    for _ in range(count):  # one connection per request: the frontend's session counter moves by one each
        resp = httpx.get(f"http://127.0.0.1:{port}/", headers={"Connection": "close"}, timeout=5)
        assert resp.status_code == 200


def _total(beats: list[dict[str, Any]], listener: str, key: str) -> int:
    return sum(b["listeners"].get(listener, {}).get("stats", {}).get(key, 0) for b in beats)


def _member_total(beats: list[dict[str, Any]], pool: str, key: str) -> int:
    return sum(stats.get(key, 0) for b in beats
               for stats in b["pools"].get(pool, {}).get("member_stats", {}).values())


def test_beats_report_listener_pool_and_member_states_with_the_applied_config_hash(
        workdir: Path, receiver: Receiver) -> None:
    with backend_haproxy(workdir, "a") as up1, backend_haproxy(workdir, "b") as up2, \
            started(heartbeat_agent(workdir, [receiver.target])) as agent:
        lb = Lb(agent, free_port(), up1, up2)
        pushed = lb.push()
        beat = receiver.wait(lambda b: lb.members_are(b, m1="UP", m2="UP"))
        assert beat["id"] == agent.amphora_id and beat["ver"] == 3
        assert beat["config_hash"] == hashlib.md5(pushed).hexdigest()
        assert beat["listeners"][lb.listener]["status"] == "OPEN"
        assert list(beat["pools"]) == [lb.backend]
        pool = beat["pools"][lb.backend]
        assert pool["status"] == "UP"
        assert pool["members"] == {
            lb.members["m1"]: "UP", lb.members["m2"]: "UP", lb.members["drain"]: "DRAIN",
            lb.members["maint"]: "MAINT", lb.members["nocheck"]: "no check"}
        # Every member's traffic rides along (for /metrics), whatever its status.
        assert {m: set(stats) for m, stats in pool["member_stats"].items()} == {
            m: {"tx", "rx", "totconns", "econ", "eresp", "conns"} for m in pool["members"]}
        # Signed: the key decodes it, another key does not.
        with pytest.raises(heartbeat.InvalidHeartbeat):
            heartbeat.decode(receiver.packets[-1], "another-key")
        # A fresh agent counts from 0, one up per beat.
        seqs = [b["seq"] for b in receiver.beats]
        assert seqs == list(range(len(seqs)))

        # A member whose backend stops answering goes DOWN by its health check; the pool stays UP.
        with backend_haproxy(workdir, "c") as up3:
            lb.up2 = up3
            lb.push("2", "reload")
            receiver.wait(lambda b: lb.members_are(b, m2="UP") and b["config_hash"] != beat["config_hash"])
        beat = receiver.wait(lambda b: lb.members_are(b, m1="UP", m2="DOWN"))
        assert beat["pools"][lb.backend]["status"] == "UP"
        assert beat["config_hash"] == hashlib.md5(lb.config("2")).hexdigest()


def test_counters_are_deltas_that_add_up_across_reloads_and_agent_restarts(
        workdir: Path, receiver: Receiver) -> None:
    with backend_haproxy(workdir, "a") as up1, backend_haproxy(workdir, "b") as up2, \
            started(heartbeat_agent(workdir, [receiver.target])) as agent:
        lb = Lb(agent, free_port(), up1, up2)
        lb.push()
        receiver.wait(lambda b: lb.listener in b["listeners"])
        _requests(lb.port, 7)
        fe = lb.frontend()
        # What the beats add up to is what HAProxy counted: no beat lost, none counted twice.
        receiver.wait(lambda _: _total(receiver.beats, lb.listener, "totconns") == 7)
        receiver.wait(lambda _: _total(receiver.beats, lb.listener, "tx") == int(fe["bout"]))
        assert _total(receiver.beats, lb.listener, "rx") == int(fe["bin"]) > 0
        assert all(b["listeners"][lb.listener]["stats"]["conns"] == 0 for b in receiver.beats[-2:])
        # The members' deltas add up the same way: every request went to exactly one member.
        receiver.wait(lambda _: _member_total(receiver.beats, lb.backend, "totconns") == 7)

        # A reload starts new workers from zero: the counter goes backwards and that is not negative traffic.
        lb.push("2", "reload")
        _requests(lb.port, 5)
        receiver.wait(lambda _: _total(receiver.beats, lb.listener, "totconns") == 12)
        assert all(v >= 0 for b in receiver.beats for v in b["listeners"].get(lb.listener, {})
                   .get("stats", {}).values())

        # A restarted agent (HAProxy kept serving) continues the sequence and does not count old traffic again.
        agent.stop()
        receiver.drain()
        last_seq = receiver.beats[-1]["seq"]
        assert [b["seq"] for b in receiver.beats] == list(range(last_seq + 1))
        before = len(receiver.beats)
        agent.start()
        receiver.wait(lambda b: b["seq"] > last_seq + 3)
        after = receiver.beats[before:]
        assert after[0]["seq"] == last_seq + 1
        assert _total(after, lb.listener, "totconns") == 0
        _requests(lb.port, 2)
        receiver.wait(lambda _: _total(receiver.beats, lb.listener, "totconns") == 14)
        receiver.wait(lambda _: _member_total(receiver.beats, lb.backend, "totconns") == 14)


def test_round_robin_over_health_managers_and_a_refusing_one_is_logged_once(workdir: Path) -> None:
    first, second = Receiver(), Receiver()
    refused = f"127.0.0.1:{free_port()}"  # nothing listens: the kernel answers port unreachable
    try:
        with started(heartbeat_agent(workdir, [first.target, refused, second.target], 0.1)) as agent:
            second.wait(lambda b: b["seq"] >= 20, timeout=15)
            first.drain()
            assert len(first.beats) >= 6
            assert all(b["seq"] % 3 == 0 for b in first.beats)
            assert all(b["seq"] % 3 == 2 for b in second.beats)
            log = agent.log.read_text()
            assert log.count(f"heartbeat to {refused} failed") == 1, log[-3000:]
    finally:
        first.close()
        second.close()


def test_a_configured_keepalived_that_is_not_running_withholds_heartbeats(
        workdir: Path, receiver: Receiver) -> None:
    with started(heartbeat_agent(workdir, [receiver.target])) as agent:
        receiver.wait(lambda b: b["seq"] >= 1)
        # keepalived with nothing to do (no VRRP instance): a real process that touches no interface.
        resp = agent.put("/1.0/vrrp/upload", content=b"global_defs {\n    router_id ostia_test\n}\n")
        assert resp.status_code == 200, resp.text
        time.sleep(3 * INTERVAL)  # uploaded, not started: beats stop
        receiver.drain()
        count = len(receiver.beats)
        time.sleep(5 * INTERVAL)
        receiver.drain()
        assert len(receiver.beats) == count

        resp = agent.put("/1.0/vrrp/start")
        assert resp.status_code == 202, resp.text
        resumed = receiver.wait(lambda _: True, timeout=5)
        assert resumed["seq"] == receiver.beats[count - 1]["seq"] + 1  # withheld beats take no number

        pid = int((agent.base_path / "vrrp" / "keepalived.pid").read_text().split()[0])
        assert agent.put("/1.0/vrrp/stop").status_code == 202  # stopped: withheld again
        assert not process.alive(pid)
        time.sleep(3 * INTERVAL)
        receiver.drain()
        count = len(receiver.beats)
        time.sleep(5 * INTERVAL)
        receiver.drain()
        assert len(receiver.beats) == count
