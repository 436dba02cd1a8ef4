"""Heartbeats of a real `ostia agent` serving a UDP listener (nginx) with agent-side UDP-CONNECT checks."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.functional.heartbeat_support import Receiver, heartbeat_agent
from tests.functional.udp_support import EchoServer, member, spec, udp_port, unique_net
from tests.support.agent import started


def test_udp_listener_pool_and_member_states_with_zero_stats(workdir: Path) -> None:
    net = unique_net()
    up, drained = EchoServer("up", f"{net}.11").start(), EchoServer("drained", f"{net}.12").start()
    gone = EchoServer("gone", f"{net}.13", udp_port(f"{net}.13"))  # never started: port unreachable
    off = EchoServer("off", f"{net}.14", udp_port(f"{net}.14"))
    receiver = Receiver()
    listener, pool = f"udp-{uuid.uuid4()}", str(uuid.uuid4())
    vip = f"{net}.10"
    body = spec(listener, vip, udp_port(vip),
                [member("m-up", up), member("m-drained", drained, weight=0), member("m-gone", gone),
                 member("m-off", off, enabled=False)],
                pool_id=pool, health_monitor={"type": "UDP-CONNECT", "delay": 1, "timeout": 1,
                                              "max_retries": 1, "max_retries_down": 1})
    try:
        with started(heartbeat_agent(workdir, [receiver.target])) as agent:
            resp = agent.put(f"/1.0/listeners/{agent.amphora_id}/{listener}/udp_listener", json=body)
            assert resp.status_code == 200, resp.text
            try:
                beat = receiver.wait(lambda b: b["pools"].get(f"{pool}:{listener}", {}).get("members", {})
                                     .get("m-gone") == "DOWN")
                assert beat["listeners"][listener] == {
                    "status": "OPEN", "stats": {"tx": 0, "rx": 0, "conns": 0, "totconns": 0, "ereq": 0}}
                assert beat["pools"][f"{pool}:{listener}"] == {"status": "UP", "members": {
                    "m-up": "UP", "m-drained": "DRAIN", "m-gone": "DOWN", "m-off": "MAINT"}}
                assert beat["config_hash"] is None  # no haproxy.cfg on this amphora

                # Every checked member down: the pool is DOWN.
                up.stop()
                drained.stop()
                receiver.wait(lambda b: b["pools"][f"{pool}:{listener}"]["status"] == "DOWN")
            finally:
                assert agent.delete(f"/1.0/listeners/{listener}").status_code == 200
            receiver.wait(lambda b: listener not in b["listeners"] and not b["pools"])
    finally:
        up.stop()
        drained.stop()
        receiver.close()
