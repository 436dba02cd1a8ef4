"""The agent's health checks of UDP members take failed members out of nginx and put them back (real sockets)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.functional.udp_support import (
    Agent,
    EchoServer,
    HealthHttp,
    TcpListener,
    agent_fixture,  # noqa: F401 (the `agent` fixture)
    answers,
    member,
    running,
    spec,
    udp_port,
    unique_net,
    wait_for,
)

DELAY, FALL, RISE = 1, 2, 2
SLACK = 3.0  # scheduling on 2 shared cores, the reload itself


def _monitor(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "delay": DELAY, "timeout": 1, "max_retries": RISE, "max_retries_down": FALL, **extra}


def _status(agent: Agent, listener_id: str, member_id: str) -> str:
    return agent.service.member_status(listener_id)[member_id]


def test_udp_connect_takes_a_stopped_member_out_and_back(agent: Agent) -> None:
    net = unique_net()
    a, b = EchoServer("a", f"{net}.11"), EchoServer("b", f"{net}.12")
    vip = f"{net}.10"
    with running(a, b):
        body = spec(f"udp-{uuid.uuid4()}", vip, udp_port(vip), [member("m-a", a), member("m-b", b)],
                    health_monitor=_monitor("UDP-CONNECT"))
        lid, port = body["id"], body["protocol_port"]
        assert agent.put(body).status_code == 200
        assert agent.service.member_status(lid) == {"m-a": "UP", "m-b": "UP"}
        b.stop()
        took = wait_for(lambda: _status(agent, lid, "m-b") == "DOWN", DELAY * FALL + SLACK)
        assert took <= DELAY * FALL + SLACK
        wait_for(lambda: "(health check DOWN)" in agent.conf(lid), 5)
        # The file is swapped in before nginx finishes reloading: wait for the traffic itself.
        wait_for(lambda: answers(vip, port, 4) == ["a"] * 4, 5)
        b.start()
        wait_for(lambda: _status(agent, lid, "m-b") == "UP", DELAY * RISE + SLACK)
        wait_for(lambda: "(health check DOWN)" not in agent.conf(lid), 5)
        wait_for(lambda: set(answers(vip, port, 4)) == {"a", "b"}, 5)


def test_tcp_monitor_takes_a_member_out_and_back(agent: Agent) -> None:
    net = unique_net()
    a, b = EchoServer("a", f"{net}.11"), EchoServer("b", f"{net}.12")
    vip = f"{net}.10"
    with running(a, b):
        tcp = TcpListener(b.address, 0).start()
        try:
            body = spec(f"udp-{uuid.uuid4()}", vip, udp_port(vip),
                        [member("m-a", a), member("m-b", b, monitor_port=tcp.port)],
                        health_monitor=_monitor("TCP"))
            lid, port = body["id"], body["protocol_port"]
            # m-a has no TCP listener on its UDP port: the TCP check fails it, proving checks are per member.
            assert agent.put(body).status_code == 200
            wait_for(lambda: _status(agent, lid, "m-a") == "DOWN", DELAY * FALL + SLACK)
            wait_for(lambda: answers(vip, port, 2) == ["b", "b"], 5)
            tcp.stop()
            wait_for(lambda: _status(agent, lid, "m-b") == "DOWN", DELAY * FALL + SLACK)
            tcp.start()
            wait_for(lambda: _status(agent, lid, "m-b") == "UP", DELAY * RISE + SLACK)
            wait_for(lambda: answers(vip, port, 2) == ["b", "b"], 5)
        finally:
            tcp.stop()


def test_http_monitor_follows_expected_codes(agent: Agent) -> None:
    net = unique_net()
    a, b = EchoServer("a", f"{net}.11"), EchoServer("b", f"{net}.12")
    vip = f"{net}.10"
    with running(a, b):
        web_a, web_b = HealthHttp(a.address), HealthHttp(b.address)
        try:
            body = spec(f"udp-{uuid.uuid4()}", vip, udp_port(vip),
                        [member("m-a", a, monitor_port=web_a.port), member("m-b", b, monitor_port=web_b.port)],
                        health_monitor=_monitor("HTTP", http_method="GET", url_path="/healthz",
                                                expected_codes="200-204"))
            lid, port = body["id"], body["protocol_port"]
            assert agent.put(body).status_code == 200
            web_b.status = 503
            wait_for(lambda: _status(agent, lid, "m-b") == "DOWN", DELAY * FALL + SLACK)
            wait_for(lambda: "(health check DOWN)" in agent.conf(lid), 5)
            wait_for(lambda: answers(vip, port, 4) == ["a"] * 4, 5)
            web_b.status = 204
            wait_for(lambda: _status(agent, lid, "m-b") == "UP", DELAY * RISE + SLACK)
            wait_for(lambda: set(answers(vip, port, 4)) == {"a", "b"}, 5)
            assert set(web_b.paths) == {"/healthz"} and _status(agent, lid, "m-a") == "UP"
        finally:
            web_a.close()
            web_b.close()


def test_ping_monitor_and_no_monitor_status(agent: Agent) -> None:
    net = unique_net()
    a = EchoServer("a", f"{net}.11")
    vip = f"{net}.10"
    with running(a):
        body = spec(f"udp-{uuid.uuid4()}", vip, udp_port(vip),
                    [member("m-a", a), member("m-off", a, enabled=False)])
        lid = body["id"]
        assert agent.put(body).status_code == 200
        assert agent.service.member_status(lid) == {"m-a": "no check", "m-off": "no check"}
        # Every 127.x address answers ping, so here PING can only show UP (the namespace test shows DOWN).
        body["health_monitor"] = _monitor("PING")
        assert agent.put(body).status_code == 200
        assert agent.service.member_status(lid) == {"m-a": "UP", "m-off": "no check"}
        time_for_fall = DELAY * FALL + 1
        with pytest.raises(AssertionError):
            wait_for(lambda: agent.service.member_status(lid)["m-a"] != "UP", time_for_fall)


def test_down_member_stays_down_across_a_config_push(agent: Agent) -> None:
    net = unique_net()
    a, b = EchoServer("a", f"{net}.11"), EchoServer("b", f"{net}.12")
    vip = f"{net}.10"
    with running(a, b):
        body = spec(f"udp-{uuid.uuid4()}", vip, udp_port(vip), [member("m-a", a), member("m-b", b)],
                    health_monitor=_monitor("UDP-CONNECT", delay=2))
        lid = body["id"]
        assert agent.put(body).status_code == 200
        b.stop()
        wait_for(lambda: _status(agent, lid, "m-b") == "DOWN", 2 * FALL + SLACK)
        body["connection_limit"] = 100  # an unrelated change: m-b must not come back unchecked
        assert agent.put(body).status_code == 200
        assert _status(agent, lid, "m-b") == "DOWN"
        assert "(health check DOWN)" in agent.conf(lid) and "limit_conn" in agent.conf(lid)
