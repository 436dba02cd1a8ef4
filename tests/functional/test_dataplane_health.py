"""Real health checks from the rendered config: each monitor type takes a failed member out (`show stat` says
DOWN and traffic stops going there) and puts it back once it recovers. Also the PROMETHEUS listener.

PING needs an address that can stop answering, which no 127.x address does: that test runs HAProxy and the
members inside a network namespace of its own, with the member addresses (198.18.0.0/15) on an interface of its own.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ostia.domain.spec import HealthMonitorSpec, ListenerSpec, MemberSpec, PoolSpec
from ostia.netns import run_in
from tests.support.dataplane import (
    Dataplane,
    Haproxy,
    Member,
    dataplane,
    ip,
    raw_http_get,
    request,
    server_tls_context,
)
from tests.support.pki import Pki

BACKEND = "pool-1:listener-1"


@pytest.fixture
def dp() -> Iterator[Dataplane]:
    with dataplane() as rig:
        yield rig


def monitor(type_: str, **kw: object) -> HealthMonitorSpec:
    return HealthMonitorSpec(type=type_, delay=1, timeout=1, max_retries=1, max_retries_down=1, **kw)  # type: ignore[arg-type]


@dataclass
class Setup:
    listener_protocol: str
    pool_protocol: str
    tls_members: bool
    hm: HealthMonitorSpec
    fail: Callable[[Member], None]
    recover: Callable[[Member], None]


def _unhealthy(m: Member) -> None:
    m.health_status = 500


def _healthy_202(m: Member) -> None:
    m.health_status = 202  # inside expected_codes "200-204"


def _stop(m: Member) -> None:
    m.stop()


def _start(m: Member) -> None:
    m.start()


HTTP_CHECK = {"http_method": "GET", "url_path": "/health", "expected_codes": "200-204"}
SETUPS = {
    # HTTP-style checks: the member keeps listening but /health answers 500 (any other path answers 200, so
    # the check is seen to use url_path), then 202 (inside the expected range) brings it back.
    "HTTP": Setup("HTTP", "HTTP", False, monitor("HTTP", **HTTP_CHECK), _unhealthy, _healthy_202),
    "HTTPS": Setup("HTTPS", "HTTPS", True, monitor("HTTPS", **HTTP_CHECK), _unhealthy, _healthy_202),
    # Connection-level checks: the member stops listening, then listens again.
    "TCP": Setup("TCP", "TCP", False, monitor("TCP"), _stop, _start),
    "TLS-HELLO": Setup("HTTPS", "HTTPS", True, monitor("TLS-HELLO"), _stop, _start),
}

CHECK_FAILURE = {"HTTP": "L7STS", "HTTPS": "L7STS", "TCP": "L4CON", "TLS-HELLO": "L4CON"}


def _spread(get: Callable[[], str | None], n: int = 4) -> list[str | None]:
    return [get() for _ in range(n)]


def _take_out_and_back(lb: Haproxy, m1: Member, get: Callable[[], str | None], fail: Callable[[Member], None],
                       recover: Callable[[Member], None]) -> str:
    """Fail m1, see it DOWN and unused, recover it, see it UP and used; the check status that took it down."""
    lb.wait_status(BACKEND, "m1", "UP")
    assert set(_spread(get)) == {"m1", "m2"}
    fail(m1)
    lb.wait_status(BACKEND, "m1", "DOWN")
    check_status = lb.stat()[(BACKEND, "m1")]["check_status"]
    assert lb.server_status(BACKEND, "m2").startswith("UP")
    assert _spread(get) == ["m2"] * 4
    recover(m1)
    lb.wait_status(BACKEND, "m1", "UP")
    assert set(_spread(get)) == {"m1", "m2"}
    return check_status


@pytest.mark.parametrize("kind", sorted(SETUPS))
def test_monitor_takes_a_failed_member_out_and_back(dp: Dataplane, kind: str) -> None:
    setup = SETUPS[kind]
    s = dp.settings()
    tls = None
    if setup.tls_members:
        tls = server_tls_context(Path(dp.write(s, "member.pem", Pki().bundle_pem("member.example"))))
    m1, m2 = dp.member("m1", tls=tls), dp.member("m2", tls=tls)
    pool = PoolSpec(id="pool-1", protocol=setup.pool_protocol, lb_algorithm="ROUND_ROBIN", health_monitor=setup.hm,
                    members=tuple(MemberSpec(id=m.name, address=m.address, protocol_port=m.port) for m in (m1, m2)))
    port = dp.port()
    lb = dp.haproxy([ListenerSpec(id="listener-1", protocol=setup.listener_protocol, protocol_port=port,
                                  default_pool_id="pool-1")], [pool], settings=s)
    scheme = "https" if setup.tls_members else "http"
    client_tls = ssl.create_default_context()
    client_tls.check_hostname, client_tls.verify_mode = False, ssl.CERT_NONE

    def get() -> str | None:
        return request(f"{scheme}://{dp.vip}:{port}/", tls=client_tls if tls else None).member

    # L7STS: the check got an HTTP status outside expected_codes; L4CON: the connection was refused.
    assert _take_out_and_back(lb, m1, get, setup.fail, setup.recover) == CHECK_FAILURE[kind]


def test_ping_monitor_follows_the_member_address(dp: Dataplane) -> None:
    ns = dp.netns()
    ip("-n", ns, "link", "add", "members0", "type", "bridge")  # no dummy module here; a bridge holds addresses too
    ip("-n", ns, "link", "set", "members0", "up")
    addresses = {"m1": "198.18.0.11", "m2": "198.18.0.12"}
    for a in addresses.values():
        ip("-n", ns, "addr", "add", f"{a}/32", "dev", "members0")
    m1, m2 = (dp.member(n, netns=ns, address=a) for n, a in addresses.items())
    pool = PoolSpec(id="pool-1", protocol="TCP", lb_algorithm="ROUND_ROBIN", health_monitor=monitor("PING"),
                    members=tuple(MemberSpec(id=m.name, address=m.address, protocol_port=m.port) for m in (m1, m2)))
    vip, port = "127.0.0.1", 8080  # the namespace's own loopback: nothing else listens there
    lb = dp.haproxy([ListenerSpec(id="listener-1", protocol="TCP", protocol_port=port, default_pool_id="pool-1")],
                    [pool], netns=ns, vip=vip)

    def get() -> str | None:
        sock = run_in(ns, socket.create_connection, (vip, port), 5)
        return raw_http_get(sock).member

    def unplug(m: Member) -> None:
        ip("-n", ns, "addr", "del", f"{m.address}/32", "dev", "members0")

    def plug(m: Member) -> None:
        ip("-n", ns, "addr", "add", f"{m.address}/32", "dev", "members0")

    # PROCERR: the external check (the ping wrapper) exited non-zero.
    assert _take_out_and_back(lb, m1, get, unplug, plug) == "PROCERR"


def test_prometheus_listener_serves_metrics(dp: Dataplane) -> None:
    port = dp.port()
    dp.haproxy([ListenerSpec(id="listener-metrics", protocol="PROMETHEUS", protocol_port=port)], [])
    reply = request(f"http://{dp.vip}:{port}/metrics")
    text = reply.body.decode()
    assert reply.status == 200
    assert "haproxy_process_nbthread" in text
    assert 'haproxy_frontend_current_sessions{proxy="listener-metrics"}' in text
    assert request(f"http://{dp.vip}:{port}/other").status == 404


def test_tls_hello_monitor_needs_a_tls_handshake(dp: Dataplane) -> None:
    """A member that accepts connections but does not speak TLS passes a TCP check, not a TLS-HELLO one."""
    s = dp.settings()
    tls = server_tls_context(Path(dp.write(s, "member.pem", Pki().bundle_pem("member.example"))))
    good, plain = dp.member("good", tls=tls), dp.member("plain")
    members = tuple(MemberSpec(id=m.name, address=m.address, protocol_port=m.port) for m in (good, plain))
    pools = [PoolSpec(id=f"pool-{t}", protocol="HTTPS", lb_algorithm="ROUND_ROBIN", health_monitor=monitor(t),
                      members=members) for t in ("TLS-HELLO", "TCP")]
    lb = dp.haproxy([ListenerSpec(id=f"listener-{t}", protocol="HTTPS", protocol_port=dp.port(),
                                  default_pool_id=f"pool-{t}") for t in ("TLS-HELLO", "TCP")], pools, settings=s)
    lb.wait_status("pool-TLS-HELLO:listener-TLS-HELLO", "plain", "DOWN")
    assert lb.stat()[("pool-TLS-HELLO:listener-TLS-HELLO", "plain")]["check_status"].startswith("L6")
    assert lb.server_status("pool-TLS-HELLO:listener-TLS-HELLO", "good").startswith("UP")
    assert lb.server_status("pool-TCP:listener-TCP", "plain").startswith("UP")
