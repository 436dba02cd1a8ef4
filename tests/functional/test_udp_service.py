"""UdpService against real nginx and real UDP: balancing, persistence, refused configs, restart, delete."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ostia.agent.udp import UdpService
from tests.functional.udp_support import (
    Agent,
    EchoServer,
    agent_fixture,  # noqa: F401 (the `agent` fixture)
    answers,
    member,
    running,
    spec,
    udp_port,
    unique_net,
)


@pytest.fixture
def net() -> str:
    return unique_net()


def _lid() -> str:
    return f"udp-{uuid.uuid4()}"


def test_round_robin_alternates_between_members(agent: Agent, net: str) -> None:
    a, b = EchoServer("a", f"{net}.11"), EchoServer("b", f"{net}.12")
    vip = f"{net}.10"
    with running(a, b):
        body = spec(_lid(), vip, udp_port(vip), [member("m-a", a), member("m-b", b)])
        resp = agent.put(body)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"message": "OK"} and resp.headers["ETag"]
        got = answers(vip, body["protocol_port"], 6)
        assert None not in got and set(got) == {"a", "b"}
        assert all(x != y for x, y in zip(got, got[1:], strict=False)), got


def test_source_ip_sticks_to_one_member(agent: Agent, net: str) -> None:
    a, b = EchoServer("a", f"{net}.11"), EchoServer("b", f"{net}.12")
    vip = f"{net}.10"
    with running(a, b):
        body = spec(_lid(), vip, udp_port(vip), [member("m-a", a), member("m-b", b)], lb_algorithm="SOURCE_IP")
        assert agent.put(body).status_code == 200
        assert "hash $remote_addr consistent;" in agent.conf(body["id"])
        port = body["protocol_port"]
        for source in (f"{net}.100", f"{net}.101", f"{net}.102"):
            got = answers(vip, port, 5, source=source)
            assert None not in got and len(set(got)) == 1, (source, got)
        # Different clients are still spread over both members.
        spread = {answers(vip, port, 1, source=f"{net}.{120 + i}")[0] for i in range(24)}
        assert spread == {"a", "b"}


def test_allowed_cidrs_admit_only_those_clients(agent: Agent, net: str) -> None:
    """Octavia enforces a listener's allowed_cidrs for UDP too (security group rules on the VIP port)."""
    a = EchoServer("a", f"{net}.11")
    vip = f"{net}.10"
    with running(a):
        body = spec(_lid(), vip, udp_port(vip), [member("m-a", a)], allowed_cidrs=[f"{net}.96/28", "2001:db8::/32"])
        assert agent.put(body).status_code == 200
        port = body["protocol_port"]
        assert answers(vip, port, 2, source=f"{net}.100") == ["a", "a"]
        assert answers(vip, port, 2, source=f"{net}.200") == [None, None]


def test_source_ip_persistence_with_granularity_groups_a_subnet(agent: Agent) -> None:
    net = unique_net()
    a, b = EchoServer("a", f"{net}.11"), EchoServer("b", f"{net}.12")
    vip = f"{net}.10"
    with running(a, b):
        body = spec(_lid(), vip, udp_port(vip), [member("m-a", a), member("m-b", b)],
                    session_persistence={"type": "SOURCE_IP", "persistence_granularity": "255.255.255.0"})
        assert agent.put(body).status_code == 200
        # Every client of this /24 shares one hash key, so all of them land on one member.
        got = {answers(vip, body["protocol_port"], 1, source=f"{net}.{100 + i}")[0] for i in range(8)}
        assert len(got) == 1 and None not in got


def test_least_connections_renders_and_serves(agent: Agent, net: str) -> None:
    a, b = EchoServer("a", f"{net}.11"), EchoServer("b", f"{net}.12")
    vip = f"{net}.10"
    with running(a, b):
        body = spec(_lid(), vip, udp_port(vip), [member("m-a", a), member("m-b", b)],
                    lb_algorithm="LEAST_CONNECTIONS")
        assert agent.put(body).status_code == 200
        assert "least_conn;" in agent.conf(body["id"])
        got = answers(vip, body["protocol_port"], 6)
        assert None not in got and set(got) == {"a", "b"}


def test_admin_down_and_backup_members(agent: Agent, net: str) -> None:
    a, b, c = EchoServer("a", f"{net}.11"), EchoServer("b", f"{net}.12"), EchoServer("c", f"{net}.13")
    vip = f"{net}.10"
    with running(a, b, c):
        body = spec(_lid(), vip, udp_port(vip), [member("m-a", a), member("m-b", b, enabled=False),
                                                 member("m-c", c, backup=True)])
        assert agent.put(body).status_code == 200
        assert set(answers(vip, body["protocol_port"], 4)) == {"a"}
        # With the only primary admin-down too, the backup serves.
        body["members"][0]["enabled"] = False
        assert agent.put(body).status_code == 200
        assert set(answers(vip, body["protocol_port"], 4)) == {"c"}


def test_config_nginx_refuses_is_400_and_old_one_keeps_serving(agent: Agent, net: str) -> None:
    a = EchoServer("a", f"{net}.11")
    vip = f"{net}.10"
    with running(a):
        body = spec(_lid(), vip, udp_port(vip), [member("m-a", a)])
        assert agent.put(body).status_code == 200
        before = agent.conf(body["id"])
        pid = agent.service._nginx(body["id"]).pid()
        # The same VIP twice passes the body checks but nginx refuses the duplicate listen.
        resp = agent.put({**body, "vip_addresses": [vip, vip]})
        assert resp.status_code == 400, resp.text
        assert resp.json()["message"] == "Invalid nginx configuration"
        assert "duplicate" in resp.json()["details"]
        assert agent.conf(body["id"]) == before
        assert agent.service._nginx(body["id"]).pid() == pid
        assert answers(vip, body["protocol_port"], 2) == ["a", "a"]


@pytest.mark.parametrize("bad", [
    {"lb_algorithm": "SOURCE_IP_PORT"},
    {"vip_addresses": ["not-an-ip"]},
    {"members": [{"id": "m", "address": "127.0.0.1", "protocol_port": 70000}]},
    {"health_monitor": {"type": "HTTPS", "delay": 1, "timeout": 1, "max_retries": 1}},
    {"id": "other-listener"},
    {"allowed_cidrs": ["10.0.0.0/8", "not-a-cidr"]},
])
def test_bad_bodies_are_400(agent: Agent, bad: dict[str, object]) -> None:
    body = {**spec("udp-l1", "127.0.0.1", 5353, []), **bad}
    resp = agent.client.put("/1.0/listeners/amp-1/udp-l1/udp_listener", json=body)
    assert resp.status_code == 400 and resp.json()["message"], resp.text
    assert not agent.service.owns("udp-l1")
    resp = agent.client.put("/1.0/listeners/amp-1/udp-l1/udp_listener", content=b"{not json")
    assert resp.status_code == 400


def test_unknown_listener_is_404(agent: Agent) -> None:
    resp = agent.client.get("/1.0/listeners/nope/udp_listener")
    assert resp.status_code == 404 and resp.json()["message"] == "UDP Listener Not Found"


def test_delete_stops_nginx_and_removes_files(agent: Agent, net: str) -> None:
    a = EchoServer("a", f"{net}.11")
    vip = f"{net}.10"
    with running(a):
        body = spec(_lid(), vip, udp_port(vip), [member("m-a", a)])
        assert agent.put(body).status_code == 200
        nginx = agent.service._nginx(body["id"])
        pid = nginx.pid()
        assert pid is not None and Path(f"/proc/{pid}").exists()
        assert agent.service.owns(body["id"]) and agent.service.listener_ids() == [body["id"]]
        agent.service.delete(body["id"])
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        assert not nginx.dir.exists() and not agent.service.owns(body["id"])
        assert agent.client.get(f"/1.0/listeners/{body['id']}/udp_listener").status_code == 404
        assert answers(vip, body["protocol_port"], 1) == [None]


def test_new_service_adopts_running_nginx(agent: Agent, net: str, tmp_path: Path) -> None:
    a = EchoServer("a", f"{net}.11")
    vip = f"{net}.10"
    with running(a):
        body = spec(_lid(), vip, udp_port(vip), [member("m-a", a)],
                    health_monitor={"type": "UDP-CONNECT", "delay": 1, "timeout": 1, "max_retries": 1})
        assert agent.put(body).status_code == 200
        pid = agent.service._nginx(body["id"]).pid()
        agent.service.stop()  # the agent goes away; nginx keeps serving
        assert answers(vip, body["protocol_port"], 1) == ["a"]
        again = UdpService(tmp_path, None)
        again.start()
        try:
            assert again._nginx(body["id"]).pid() == pid
            assert again.member_status(body["id"]) == {"m-a": "UP"}
        finally:
            again.stop()
        assert answers(vip, body["protocol_port"], 1) == ["a"]


def test_repush_of_the_same_spec_does_not_reload(agent: Agent, net: str) -> None:
    a = EchoServer("a", f"{net}.11")
    vip = f"{net}.10"
    with running(a):
        body = spec(_lid(), vip, udp_port(vip), [member("m-a", a)])
        assert agent.put(body).status_code == 200
        nginx = agent.service._nginx(body["id"])
        before = nginx.pid_file.stat().st_mtime_ns, nginx.conf.stat().st_mtime_ns
        assert agent.put(body).status_code == 200
        assert (nginx.pid_file.stat().st_mtime_ns, nginx.conf.stat().st_mtime_ns) == before
