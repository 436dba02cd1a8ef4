"""The health manager against a real database: signed heartbeats over real UDP sockets, the operating status
roll-up of internals §3.2, the replay guard, statistics in the API, and batching."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ostia import heartbeat
from ostia.db.models import Amphora, AmphoraHealth, Listener, LoadBalancer, Member, Pool
from ostia.health.receiver import Beat
from ostia.health.service import HealthManager
from tests.support.controller import Api, running_controller
from tests.support.databases import BACKENDS, fresh_database

KEY = "test-heartbeat-key"
SEQ = itertools.count(1)  # one increasing counter serves every amphora of the module


@pytest.fixture(scope="module", params=BACKENDS)
def ctl(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    state = str(tmp_path_factory.mktemp("state"))
    with fresh_database(request.param, state) as url, running_controller(url, state) as controller:
        yield controller


@pytest.fixture(scope="module")
def api(ctl: Any) -> Iterator[Api]:
    with TestClient(ctl.app) as client:
        yield Api(client)


@pytest.fixture(scope="module")
def hm(ctl: Any) -> Iterator[HealthManager]:
    manager = HealthManager(ctl.db, bind_ip="127.0.0.1", bind_port=0, heartbeat_key=KEY, heartbeat_interval=5.0)
    manager.start()
    try:
        yield manager
    finally:
        manager.stop()


class Sender:
    def __init__(self, hm: HealthManager) -> None:
        self.hm = hm
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send_raw(self, *packets: bytes) -> None:
        before = self.hm.counters.get("packets")
        for packet in packets:
            self.sock.sendto(packet, self.hm.address)
        deadline = time.monotonic() + 10
        while self.hm.counters.get("packets") < before + len(packets):
            assert time.monotonic() < deadline, "the receiver never saw the packets"
            time.sleep(0.005)
        self.hm.updater.flush()  # waits for a batch in flight, then writes what is left

    def send(self, *messages: dict[str, Any], key: str = KEY) -> None:
        self.send_raw(*(heartbeat.encode(m, key) for m in messages))


@pytest.fixture
def sender(hm: HealthManager) -> Iterator[Sender]:
    s = Sender(hm)
    yield s
    s.sock.close()


class Lb:
    """A load balancer made through the API (noop drivers): 2 listeners, 2 pools of 2 members, 1 spare pool."""

    def __init__(self, api: Api, ctl: Any, **fields: Any) -> None:
        def pool(name: str, base: int) -> dict[str, Any]:
            return {"name": name, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": f"10.0.0.{base + i}", "protocol_port": 80} for i in range(2)]}

        body = api.create_lb(listeners=[
            {"protocol": "HTTP", "protocol_port": 80, "default_pool": pool("a", 1)},
            {"protocol": "HTTP", "protocol_port": 81, "default_pool": pool("b", 3)}], **fields)
        self.id = body["id"]
        self.db = ctl.db
        with ctl.db.session() as s:
            self.listeners = list(s.scalars(select(Listener.id).where(Listener.load_balancer_id == self.id)
                                            .order_by(Listener.protocol_port)))
            by_listener = dict(s.execute(select(Listener.id, Listener.default_pool_id)
                                         .where(Listener.load_balancer_id == self.id)).tuples().all())
            self.pools = [by_listener[lid] for lid in self.listeners]
            self.members = {p: list(s.scalars(select(Member.id).where(Member.pool_id == p).order_by(Member.address)))
                            for p in self.pools}
            self.amphora = s.scalars(select(Amphora.id).where(Amphora.load_balancer_id == self.id)).one()
        resp = api.post("/v2/lbaas/pools", {"pool": {"name": "spare", "protocol": "HTTP", "lb_algorithm":
                                                      "ROUND_ROBIN", "loadbalancer_id": self.id}})
        assert resp.status_code == 201, resp.text
        self.unattached_pool = resp.json()["pool"]["id"]
        api.wait_lb(self.id)

    def message(self, listeners: dict[str, Any] | None = None, pools: dict[str, Any] | None = None,
                **extra: Any) -> dict[str, Any]:
        """A healthy heartbeat, with the given listener/pool entries replaced (None value: left out)."""
        ls: dict[str, Any] = {lid: {"status": "OPEN", "stats": {}} for lid in self.listeners}
        ps: dict[str, Any] = {f"{p}:{lid}": {"status": "UP", "members": dict.fromkeys(self.members[p], "UP")}
                              for p, lid in zip(self.pools, self.listeners, strict=True)}
        for key, value in (listeners or {}).items():
            ls[key] = value
        for key, value in (pools or {}).items():
            ps[key] = value
        return {"id": self.amphora, "seq": next(SEQ), "ver": 3, "config_hash": None,
                "listeners": {k: v for k, v in ls.items() if v is not None},
                "pools": {k: v for k, v in ps.items() if v is not None}, **extra}

    def pool_key(self, i: int) -> str:
        return f"{self.pools[i]}:{self.listeners[i]}"

    def statuses(self) -> dict[str, str]:
        with self.db.session() as s:
            out = {"lb": s.scalar(select(LoadBalancer.operating_status).where(LoadBalancer.id == self.id))}
            out.update({f"l{i}": s.scalar(select(Listener.operating_status).where(Listener.id == lid))
                        for i, lid in enumerate(self.listeners)})
            out.update({f"p{i}": s.scalar(select(Pool.operating_status).where(Pool.id == pid))
                        for i, pid in enumerate(self.pools)})
            out["p_spare"] = s.scalar(select(Pool.operating_status).where(Pool.id == self.unattached_pool))
            for i, pid in enumerate(self.pools):
                for j, mid in enumerate(self.members[pid]):
                    out[f"m{i}{j}"] = s.scalar(select(Member.operating_status).where(Member.id == mid))
        return out

    def health(self) -> AmphoraHealth | None:
        with self.db.session() as s:
            return s.get(AmphoraHealth, self.amphora)


def test_healthy_heartbeat_brings_everything_online_and_records_health(api: Api, ctl: Any, sender: Sender) -> None:
    lb = Lb(api, ctl)
    assert lb.statuses()["lb"] == "OFFLINE"
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    msg = lb.message(config_hash="0123abcd")
    sender.send(msg)
    st = lb.statuses()
    assert st == {"lb": "ONLINE", "l0": "ONLINE", "l1": "ONLINE", "p0": "ONLINE", "p1": "ONLINE",
                  "p_spare": "OFFLINE", "m00": "ONLINE", "m01": "ONLINE", "m10": "ONLINE", "m11": "ONLINE"}
    health = lb.health()
    assert health is not None and health.seq == msg["seq"] and not health.busy
    assert health.applied_config_hash == "0123abcd" and health.last_update >= before
    body = api.get(f"/v2/lbaas/loadbalancers/{lb.id}/status").json()["statuses"]["loadbalancer"]
    assert body["operating_status"] == "ONLINE"


def test_listener_full_degrades_listener_and_lb(api: Api, ctl: Any, sender: Sender) -> None:
    lb = Lb(api, ctl)
    sender.send(lb.message({lb.listeners[1]: {"status": "FULL", "stats": {}}}))
    st = lb.statuses()
    assert (st["lb"], st["l0"], st["l1"]) == ("DEGRADED", "ONLINE", "DEGRADED")


def test_missing_listener_is_error_and_does_not_refresh_health(api: Api, ctl: Any, sender: Sender) -> None:
    lb = Lb(api, ctl)
    mismatches = sender.hm.counters.get("listener_count_mismatch")
    sender.send(lb.message({lb.listeners[1]: None}, {lb.pool_key(1): None}))
    st = lb.statuses()
    assert (st["l0"], st["l1"], st["p1"]) == ("ONLINE", "ERROR", "OFFLINE")
    assert lb.health() is None  # §3.2 step 4: a count mismatch never refreshes (here: never creates) the row
    assert sender.hm.counters.get("listener_count_mismatch") == mismatches + 1
    sender.send(lb.message())
    first = lb.health()
    assert first is not None
    sender.send(lb.message({lb.listeners[0]: None}))
    again = lb.health()
    assert again is not None and again.last_update == first.last_update and again.seq > first.seq


def test_pool_down_is_error_and_lb_error(api: Api, ctl: Any, sender: Sender) -> None:
    lb = Lb(api, ctl)
    members = dict.fromkeys(lb.members[lb.pools[0]], "DOWN")
    sender.send(lb.message(pools={lb.pool_key(0): {"status": "DOWN", "members": members}}))
    st = lb.statuses()
    assert (st["lb"], st["p0"], st["p1"], st["m00"], st["m01"]) == ("ERROR", "ERROR", "ONLINE", "ERROR", "ERROR")


def test_member_statuses_roll_up(api: Api, ctl: Any, sender: Sender) -> None:
    lb = Lb(api, ctl)
    m0, m1 = lb.members[lb.pools[0]]
    n0, n1 = lb.members[lb.pools[1]]
    sender.send(lb.message(pools={lb.pool_key(0): {"status": "UP", "members": {m0: "DOWN 1/3", m1: "UP"}},
                                  lb.pool_key(1): {"status": "UP", "members": {n0: "DRAIN", n1: "MAINT"}}}))
    st = lb.statuses()
    assert (st["lb"], st["p0"], st["m00"], st["m01"]) == ("DEGRADED", "DEGRADED", "ERROR", "ONLINE")
    assert (st["p1"], st["m10"], st["m11"]) == ("ONLINE", "DRAINING", "OFFLINE")
    sender.send(lb.message(pools={lb.pool_key(0): {"status": "UP", "members": {m0: "no check", m1: "UP 2/3"}},
                                  lb.pool_key(1): {"status": "UP", "members": {n1: "RESTARTING"}}}))
    st = lb.statuses()
    assert (st["lb"], st["p0"], st["m00"], st["m01"]) == ("ONLINE", "ONLINE", "NO_MONITOR", "ONLINE")
    assert (st["m10"], st["m11"]) == ("OFFLINE", "OFFLINE")  # absent → OFFLINE; RESTARTING → unchanged
    # Absent but NO_MONITOR stays NO_MONITOR.
    sender.send(lb.message(pools={lb.pool_key(0): {"status": "UP", "members": {m1: "UP"}}}))
    assert lb.statuses()["m00"] == "NO_MONITOR"


def test_admin_down_lb_is_offline_and_skips_the_listener_count(api: Api, ctl: Any, sender: Sender) -> None:
    lb = Lb(api, ctl)
    resp = api.put(f"/v2/lbaas/loadbalancers/{lb.id}", {"loadbalancer": {"admin_state_up": False}})
    assert resp.status_code == 200, resp.text
    api.wait_lb(lb.id)
    sender.send(lb.message({lb.listeners[1]: None}, {lb.pool_key(1): None}))
    st = lb.statuses()
    # Octavia's rule: a missing listener is ERROR while it is enabled and the LB ACTIVE, whatever the LB's
    # admin state; the LB itself reports OFFLINE.
    assert (st["lb"], st["l0"], st["l1"]) == ("OFFLINE", "ONLINE", "ERROR")
    assert lb.health() is not None  # the count check does not apply to a disabled LB


def test_bad_signature_undecodable_and_replays_are_dropped_and_counted(api: Api, ctl: Any, sender: Sender) -> None:
    lb = Lb(api, ctl)
    c = sender.hm.counters
    base = c.snapshot()
    sender.send(lb.message(), key="not-the-key")
    garbage = b"signed but not zlib"  # right key, undecodable payload
    sender.send_raw(garbage + hmac.new(KEY.encode(), garbage, hashlib.sha256).hexdigest().encode(), b"short")
    assert lb.health() is None and lb.statuses()["lb"] == "OFFLINE"
    good = lb.message()
    sender.send(good)
    sender.send(good)  # the same packet again
    sender.send({**lb.message(), "seq": good["seq"] - 1, "listeners": {}})  # an older one
    now = c.snapshot()
    assert now["bad_signature"] - base["bad_signature"] == 1
    assert now["undecodable"] - base["undecodable"] == 2
    assert now["replayed"] - base["replayed"] == 2
    assert now["accepted"] - base["accepted"] == 1
    health = lb.health()
    assert health is not None and health.seq == good["seq"]
    assert lb.statuses()["l0"] == "ONLINE"  # the replayed older beat (no listeners) changed nothing


def test_a_second_health_manager_drops_what_the_database_has_seen(api: Api, ctl: Any, sender: Sender) -> None:
    lb = Lb(api, ctl)
    newest = lb.message()
    older = lb.message(listeners={lb.listeners[0]: {"status": "FULL", "stats": {"rx": 5}}})
    older["seq"], newest["seq"] = newest["seq"], older["seq"]
    sender.send(newest)
    other = HealthManager(ctl.db, bind_ip="127.0.0.1", bind_port=0, heartbeat_key=KEY, heartbeat_interval=5.0)
    other.start()
    try:
        second = Sender(other)
        second.send(older)  # never seen by `other`, but the database already has a newer seq
        second.sock.close()
        assert other.counters.get("replayed") == 1 and other.counters.get("accepted") == 0
    finally:
        other.stop()
    assert lb.statuses()["l0"] == "ONLINE"


def test_what_another_health_manager_wrote_is_not_hidden_by_the_cached_tree(api: Api, ctl: Any,
                                                                            sender: Sender) -> None:
    # Amphorae send round-robin to every health manager: a beat repeating the statuses this one processed last
    # must still correct what another one wrote in between (its newer health seq invalidates the cached tree).
    lb = Lb(api, ctl)
    m0, m1 = lb.members[lb.pools[0]]
    sender.send(lb.message())
    other = HealthManager(ctl.db, bind_ip="127.0.0.1", bind_port=0, heartbeat_key=KEY, heartbeat_interval=5.0)
    other.start()
    try:
        second = Sender(other)
        # DRAIN: the LB row stays as it was, so only the amphora's health seq tells that something changed.
        second.send(lb.message(pools={lb.pool_key(0): {"status": "UP", "members": {m0: "DRAIN", m1: "UP"}}}))
        second.sock.close()
    finally:
        other.stop()
    st = lb.statuses()
    assert (st["lb"], st["p0"], st["m00"]) == ("ONLINE", "ONLINE", "DRAINING")
    sender.send(lb.message())
    assert lb.statuses()["m00"] == "ONLINE"


def test_a_load_balancer_changed_through_the_api_is_read_again(api: Api, ctl: Any, sender: Sender) -> None:
    lb = Lb(api, ctl)
    sender.send(lb.message())
    hits = sender.hm.updater.trees.hits
    sender.send(lb.message())
    assert sender.hm.updater.trees.hits == hits + 1  # nothing changed: the cached tree served
    resp = api.put(f"/v2/lbaas/loadbalancers/{lb.id}", {"loadbalancer": {"admin_state_up": False}})
    assert resp.status_code == 200, resp.text
    api.wait_lb(lb.id)
    sender.send(lb.message())  # the same statuses again, but the LB row changed: read and rolled up anew
    assert lb.statuses()["lb"] == "OFFLINE"


def test_unknown_amphora_is_ignored(api: Api, ctl: Any, sender: Sender) -> None:
    before = sender.hm.counters.get("unknown_amphora")
    sender.send({"id": "00000000-0000-0000-0000-00000000dead", "seq": next(SEQ), "ver": 3, "listeners": {},
                 "pools": {}})
    assert sender.hm.counters.get("unknown_amphora") == before + 1
    with ctl.db.session() as s:
        assert s.get(AmphoraHealth, "00000000-0000-0000-0000-00000000dead") is None


def _stats(rx: int, tx: int, conns: int, tot: int, ereq: int) -> dict[str, int]:
    return {"rx": rx, "tx": tx, "conns": conns, "totconns": tot, "ereq": ereq}


def test_statistics_accumulate_and_show_in_the_api(api: Api, ctl: Any, sender: Sender) -> None:
    lb = Lb(api, ctl)
    l0, l1 = lb.listeners
    sender.send(lb.message({l0: {"status": "OPEN", "stats": _stats(100, 1000, 3, 5, 1)},
                            l1: {"status": "OPEN", "stats": _stats(7, 70, 1, 1, 0)}}))
    sender.send(lb.message({l0: {"status": "OPEN", "stats": _stats(50, 500, 2, 4, 2)}}))
    listener0 = api.get(f"/v2/lbaas/listeners/{l0}/stats").json()["stats"]
    assert listener0 == {"bytes_in": 150, "bytes_out": 1500, "active_connections": 2, "total_connections": 9,
                         "request_errors": 3}
    lb_stats = api.get(f"/v2/lbaas/loadbalancers/{lb.id}/stats").json()["stats"]
    assert lb_stats == {"bytes_in": 157, "bytes_out": 1570, "active_connections": 2, "total_connections": 10,
                        "request_errors": 3}
    # A second amphora (as in ACTIVE_STANDBY) adds its own row; the listener and LB sum across amphorae.
    with ctl.db.session() as s:
        s.add(Amphora(load_balancer_id=lb.id, status="ALLOCATED", role="BACKUP"))
        s.flush()
        backup = s.scalars(select(Amphora.id).where(Amphora.load_balancer_id == lb.id, Amphora.role == "BACKUP")).one()
    sender.send({**lb.message({l0: {"status": "OPEN", "stats": _stats(1, 2, 4, 1, 0)}}), "id": backup})
    listener0 = api.get(f"/v2/lbaas/listeners/{l0}/stats").json()["stats"]
    assert listener0 == {"bytes_in": 151, "bytes_out": 1502, "active_connections": 6, "total_connections": 10,
                         "request_errors": 3}
    amp = api.get(f"/v2/octavia/amphorae/{lb.amphora}/stats").json()["amphora_stats"]
    assert {(r["listener_id"], r["bytes_in"], r["active_connections"]) for r in amp} == {(l0, 150, 2), (l1, 7, 0)}


def test_a_batch_coalesces_beats_of_one_amphora(api: Api, ctl: Any, hm: HealthManager) -> None:
    lb = Lb(api, ctl)
    l0 = lb.listeners[0]
    m0 = lb.members[lb.pools[0]][0]
    messages = [lb.message({l0: {"status": "OPEN", "stats": _stats(10, 20, i, 1, 0)}},
                           {lb.pool_key(0): {"status": "UP", "members": {m0: "DOWN" if i < 4 else "UP"}}})
                for i in range(5)]
    now, wall = time.monotonic(), dt.datetime.now(dt.UTC).replace(tzinfo=None)
    beats = [Beat(lb.amphora, m["seq"], m, now, wall, "127.0.0.1") for m in reversed(messages)]
    with ctl.db.session() as s:
        result = hm.updater.apply(s, beats)  # one transaction, as one batch of the updater
    assert (result.beats, result.amphorae, result.stat_rows) == (5, 1, 2)
    st = lb.statuses()
    assert (st["m00"], st["p0"], st["lb"]) == ("ONLINE", "ONLINE", "ONLINE")  # the latest beat decides
    health = lb.health()
    assert health is not None and health.seq == messages[-1]["seq"]
    stats = api.get(f"/v2/lbaas/listeners/{l0}/stats").json()["stats"]
    assert (stats["bytes_in"], stats["bytes_out"], stats["total_connections"], stats["active_connections"]) == \
        (50, 100, 5, 4)
    # Statuses that do not change are not written again.
    with ctl.db.session() as s:
        again = hm.updater.apply(s, [Beat(lb.amphora, m["seq"] + 1000, m, now, wall, "x") for m in messages[-1:]])
    assert again.status_writes == 0
