"""The parts of /metrics and the progress display that the end-to-end test does not reach: route templates,
the source check in front of /metrics, the standalone listener of `ostia health-manager`/`ostia worker`, member
traffic accounting, a heartbeat too big with member traffic, and the live line on a terminal."""

from __future__ import annotations

import asyncio
import io
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ostia import heartbeat
from ostia.agent.heartbeat_sender import HeartbeatSender
from ostia.agent.settings import AgentSettings
from ostia.cli.progress_cmd import Display, bar
from ostia.health.traffic import MemberKey, MemberTraffic
from ostia.metrics.asgi import UNMATCHED, MetricsEndpoint, RouteTemplates, parse_cidrs
from ostia.metrics.instruments import API_SECONDS, FLOW_SECONDS
from ostia.metrics.registry import process_registry, serve
from tests.support.processes import free_port

TEMPLATES = ["/", "/v2/lbaas/loadbalancers", "/v2/lbaas/loadbalancers/{lb_id}",
             "/v2/lbaas/loadbalancers/{lb_id}/status", "/v2/lbaas/pools/{pool_id}/members/{member_id}"]


def test_paths_are_labelled_with_their_route_template_never_an_id() -> None:
    route = RouteTemplates(lambda: TEMPLATES)
    assert route("/v2/lbaas/loadbalancers") == "/v2/lbaas/loadbalancers"
    assert route("/v2.0/lbaas/loadbalancers/abc.json") == "/v2/lbaas/loadbalancers/{lb_id}"
    assert route("/v2/lbaas/loadbalancers/abc/status") == "/v2/lbaas/loadbalancers/{lb_id}/status"
    assert route("/v2/lbaas/pools/p/members/m") == "/v2/lbaas/pools/{pool_id}/members/{member_id}"
    assert route("/v2/lbaas/loadbalancers/a/b/c") == UNMATCHED
    assert route("/anything/else") == UNMATCHED


def _get(app: MetricsEndpoint, path: str, client: str, method: str = "GET") -> tuple[int, bytes]:
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "client": (client, 40000)}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_metrics_answer_listed_sources_only_and_other_paths_pass_through() -> None:
    app = MetricsEndpoint(_inner, RouteTemplates(lambda: TEMPLATES), process_registry(),
                          parse_cidrs(["10.0.0.0/8", " ::1/128 "]))
    status, body = _get(app, "/metrics", "10.1.2.3")
    assert status == 200
    assert "ostia_api_request_duration_seconds" in {f.name for f in text_string_to_metric_families(body.decode())}
    assert _get(app, "/metrics", "::1")[0] == 200
    status, body = _get(app, "/metrics", "192.168.1.1")
    assert status == 403 and b"Policy does not allow" in body
    assert _get(app, "/v2/lbaas/loadbalancers", "192.168.1.1")[0] == 204  # only /metrics is restricted
    open_app = MetricsEndpoint(_inner, RouteTemplates(lambda: TEMPLATES), process_registry(), [])
    assert _get(open_app, "/metrics", "192.168.1.1")[0] == 200


def test_an_ipv4_client_of_a_dual_stack_listener_is_matched_against_ipv4_cidrs() -> None:
    app = MetricsEndpoint(_inner, RouteTemplates(lambda: TEMPLATES), process_registry(),
                          parse_cidrs(["127.0.0.0/8", "10.0.0.0/8"]))
    assert _get(app, "/metrics", "::ffff:10.1.2.3")[0] == 200
    assert _get(app, "/metrics", "::ffff:127.0.0.1")[0] == 200
    assert _get(app, "/metrics", "::ffff:192.168.1.1")[0] == 403


def test_unknown_methods_share_one_label_value() -> None:
    app = MetricsEndpoint(_inner, RouteTemplates(lambda: TEMPLATES), process_registry(), [])
    for i in range(5):
        _get(app, "/v2/lbaas/loadbalancers", "10.1.2.3", method=f"BOGUS{i}")
    methods = {s.labels["method"] for m in API_SECONDS.collect() for s in m.samples}
    assert not any(m.startswith("BOGUS") for m in methods) and "other" in methods


def test_the_standalone_listener_serves_the_process_registry() -> None:
    FLOW_SECONDS.labels("pieces.test", "DONE").observe(0.5)
    port = free_port()
    server = serve(f"127.0.0.1:{port}", process_registry(), "test")
    assert server is not None
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        server.shutdown()
        server.server_close()
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert [s.value for s in samples if s.name == "ostia_flow_duration_seconds_count"
            and s.labels["flow"] == "pieces.test"] == [1.0]
    assert serve("", process_registry(), "test") is None


def test_member_traffic_adds_deltas_keeps_current_sessions_and_is_bounded() -> None:
    traffic = MemberTraffic(max_series=50)
    key = MemberKey("lb", "l", "p", "m")
    traffic.add([(key, {"rx": 10, "tx": 100, "totconns": 1, "conns": 3}),
                 (key, {"rx": 5, "tx": -7, "totconns": "x", "econ": 1, "conns": 1})])
    assert traffic.snapshot() == [(key, {"rx": 15, "tx": 100, "totconns": 1, "econ": 1, "eresp": 0}, 1)]
    traffic.add((MemberKey("lb", "l", "p", f"m{i}"), {"rx": 1}) for i in range(100))
    assert len(traffic.snapshot()) == 50  # forged ids cannot grow it without end


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_redrawn_line_and_a_pipe_plain_lines_on_change() -> None:
    terminal = _Tty()
    tty = Display(terminal)
    tty.update("members " + bar(1, 4))
    tty.update("members " + bar(1, 4))
    tty.done("finished")
    out = terminal.getvalue()
    assert out.count("\r") == 3 and "\n" not in out.rstrip("\n")
    assert "[#######-----------------------] 1/4" in out
    piped = io.StringIO()
    pipe = Display(piped)
    pipe.update("a")
    pipe.update("a")
    pipe.update("b")
    pipe.done("b")
    assert [line.split("] ", 1)[1] for line in piped.getvalue().splitlines()] == ["a", "b", "b"]
    assert "\r" not in piped.getvalue()


class _NoKeepalived:
    config = Path("/nonexistent/keepalived.conf")

    def pid(self) -> None:
        return None


def test_a_beat_too_big_with_member_traffic_is_sent_without_it(tmp_path: Path) -> None:
    members = {str(uuid.uuid4()): "UP" for _ in range(1500)}
    stats = {m: {"tx": 123456, "rx": 65432, "totconns": 17, "econ": 0, "eresp": 0, "conns": 2} for m in members}
    big = {"id": "amp", "seq": 0, "ver": 3, "listeners": {},
           "pools": {"p:l": {"status": "UP", "members": members, "member_stats": stats}}}
    with pytest.raises(ValueError):
        heartbeat.encode(big, "k")  # too big for one datagram as it is

    class Sender(HeartbeatSender):
        def build(self) -> dict[str, Any]:
            return big

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        settings = AgentSettings(amphora_id="amp", base_path=tmp_path, server_cert=tmp_path / "c",
                                 server_key=tmp_path / "k", server_ca=tmp_path / "ca", heartbeat_key="k",
                                 controller_ip_port_list=(f"127.0.0.1:{sock.getsockname()[1]}",))
        sender = Sender(settings, haproxy=None, keepalived=_NoKeepalived())  # type: ignore[arg-type]
        try:
            sender.beat()
            got = heartbeat.decode(sock.recv(heartbeat.MAX_PACKET), "k")
        finally:
            sender.stop()
    assert got["pools"]["p:l"] == {"status": "UP", "members": members}  # the statuses got through


def test_deleted_load_balancers_have_no_status_series(sqlite_url: str, tmp_path: Path) -> None:
    """A DELETED load balancer's row is kept for the expiry age, hidden from the API: and from /metrics."""
    from fastapi.testclient import TestClient
    from prometheus_client import generate_latest

    from ostia.metrics.database import DatabaseCollector
    from tests.support.controller import Api, running_controller

    with running_controller(sqlite_url, str(tmp_path / "state")) as ctl, TestClient(ctl.app) as client:
        api = Api(client)
        gone, kept = api.create_lb(name="gone"), api.create_lb(name="kept")
        assert api.delete(f"/v2/lbaas/loadbalancers/{gone['id']}").status_code == 204
        api.wait_lb(gone["id"], "DELETED")
        text = generate_latest(process_registry(DatabaseCollector(ctl.db))).decode()
    lbs = {s.labels["loadbalancer"] for f in text_string_to_metric_families(text)
           if f.name == "octavia_loadbalancer_status" for s in f.samples}
    assert lbs == {kept["id"]}
