"""A change through the API that PostgreSQL picks as a deadlock victim is run again, not answered 500 (the
chaos test found it: the health manager writes listener then pool statuses while a member update marks the
pool, then its listeners)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.support.controller import Api

MEMBER = {"address": "127.2.0.9", "protocol_port": 8081}


def lb_tree(api: Api) -> tuple[str, str, str, str]:
    lb = api.create_lb(name="deadlock")
    resp = api.post("/v2/lbaas/listeners", {"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP",
                                                         "protocol_port": 80}})
    listener = resp.json()["listener"]["id"]
    api.wait_lb(lb["id"])
    resp = api.post("/v2/lbaas/pools", {"pool": {"listener_id": listener, "protocol": "HTTP",
                                                 "lb_algorithm": "ROUND_ROBIN"}})
    pool = resp.json()["pool"]["id"]
    api.wait_lb(lb["id"])
    resp = api.post(f"/v2/lbaas/pools/{pool}/members", {"member": MEMBER})
    member = resp.json()["member"]["id"]
    api.wait_lb(lb["id"])
    return lb["id"], listener, pool, member


def waiting_backends(conn: Any) -> int:
    return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                 "AND datname = current_database()")).scalar())


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_member_update_that_loses_a_deadlock_is_retried(api: Api, db_url: str) -> None:
    lb_id, listener, pool, member = lb_tree(api)
    engine = create_engine(db_url)
    result: dict[str, Any] = {}
    try:
        with engine.connect() as other, engine.connect() as probe:
            # The other writer never runs the deadlock check itself, so PostgreSQL picks the API as the victim.
            other.execute(text("SET deadlock_timeout = '20s'"))
            other.execute(text("UPDATE listener SET operating_status = 'ONLINE' WHERE id = :id"), {"id": listener})

            def update() -> None:
                result["resp"] = api.put(f"/v2/lbaas/pools/{pool}/members/{member}", {"member": {"weight": 7}})

            thread = threading.Thread(target=update)
            thread.start()
            deadline = time.monotonic() + 15
            while waiting_backends(probe) < 1 and time.monotonic() < deadline:  # the API waits for the listener
                time.sleep(0.05)
            assert waiting_backends(probe) >= 1
            # Now lock the pool the API holds: a cycle, which the API's backend detects after deadlock_timeout.
            other.execute(text("UPDATE pool SET operating_status = 'ONLINE' WHERE id = :id"), {"id": pool})
            other.commit()
            thread.join(30)
            assert not thread.is_alive()
    finally:
        engine.dispose()
    resp = result["resp"]
    assert resp.status_code == 200, resp.text
    assert resp.json()["member"]["weight"] == 7
    api.wait_lb(lb_id)
    assert api.get(f"/v2/lbaas/pools/{pool}/members/{member}").json()["member"]["weight"] == 7
