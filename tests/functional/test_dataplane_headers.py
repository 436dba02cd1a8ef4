"""Real traffic: insert_headers as members see them, allowed_cidrs by source address, timeouts, connection_limit."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from ostia.domain.spec import ListenerSpec, MemberSpec, PoolSpec
from tests.support.dataplane import Dataplane, Member, dataplane, request, wait_for


@pytest.fixture
def dp() -> Iterator[Dataplane]:
    with dataplane() as rig:
        yield rig


def pool_of(member: Member, pool_id: str = "pool-1") -> PoolSpec:
    return PoolSpec(id=pool_id, protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                    members=(MemberSpec(id=member.name, address=member.address, protocol_port=member.port),))


def test_insert_headers_reach_the_member(dp: Dataplane) -> None:
    m = dp.member("m1")
    with_headers, plain = dp.port(), dp.port()
    headers = (("X-Forwarded-For", "true"), ("X-Forwarded-Port", "True"), ("X-Forwarded-Proto", "true"),
               ("X-Real-IP", "true"), ("X-Client-IP", "false"))
    dp.haproxy([ListenerSpec(id="with-headers", protocol="HTTP", protocol_port=with_headers,
                             default_pool_id="pool-1", insert_headers=headers),
                ListenerSpec(id="plain", protocol="HTTP", protocol_port=plain, default_pool_id="pool-1")],
               [pool_of(m)])
    client = dp.addr(77)
    # A client's own X-Forwarded-Proto is replaced, not passed on.
    reply = request(f"http://{dp.vip}:{with_headers}/", source=client, headers={"X-Forwarded-Proto": "https"})
    assert reply.seen_header("X-Forwarded-For") == [client]
    assert reply.seen_header("X-Forwarded-Port") == [str(with_headers)]
    assert reply.seen_header("X-Forwarded-Proto") == ["http"]
    assert reply.seen_header("X-Real-IP") == [client]
    assert reply.seen_header("X-Client-IP") == []  # "false" means off
    reply = request(f"http://{dp.vip}:{plain}/", source=client)
    assert [reply.seen_header(h) for h in ("X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto")] == [[]] * 3


def test_allowed_cidrs_admit_only_listed_sources(dp: Dataplane) -> None:
    m = dp.member("m1")
    port = dp.port()
    dp.haproxy([ListenerSpec(id="listener-1", protocol="HTTP", protocol_port=port, default_pool_id="pool-1",
                             allowed_cidrs=(f"{dp.addr(5)}/32",))], [pool_of(m)])
    url = f"http://{dp.vip}:{port}/"
    assert request(url, source=dp.addr(5)).member == "m1"
    with pytest.raises(httpx.TransportError):
        request(url, source=dp.addr(6))
    assert m.hits == 1


def test_allowed_cidrs_on_a_tcp_listener(dp: Dataplane) -> None:
    m = dp.member("m1")
    port = dp.port()
    pool = PoolSpec(id="pool-1", protocol="TCP", lb_algorithm="ROUND_ROBIN",
                    members=(MemberSpec(id=m.name, address=m.address, protocol_port=m.port),))
    dp.haproxy([ListenerSpec(id="listener-1", protocol="TCP", protocol_port=port, default_pool_id="pool-1",
                             allowed_cidrs=(f"{dp.net}0/29",))], [pool])
    url = f"http://{dp.vip}:{port}/"
    assert request(url, source=dp.addr(7)).member == "m1"
    with pytest.raises(httpx.TransportError):
        request(url, source=dp.addr(8))


def test_member_slower_than_timeout_member_data_gets_504(dp: Dataplane) -> None:
    m = dp.member("m1")
    port = dp.port()
    dp.haproxy([ListenerSpec(id="listener-1", protocol="HTTP", protocol_port=port, default_pool_id="pool-1",
                             timeout_member_data=300)], [pool_of(m)])
    url = f"http://{dp.vip}:{port}/"
    assert request(url + "?sleep=0.05").status == 200
    started = time.monotonic()
    assert request(url + "?sleep=1.5").status == 504
    assert time.monotonic() - started < 1.2


def test_idle_client_is_closed_after_timeout_client_data(dp: Dataplane) -> None:
    m = dp.member("m1")
    port = dp.port()
    dp.haproxy([ListenerSpec(id="listener-1", protocol="HTTP", protocol_port=port, default_pool_id="pool-1",
                             timeout_client_data=300)], [pool_of(m)])
    with socket.create_connection((dp.vip, port), timeout=5) as sock:
        started = time.monotonic()
        sock.recv(1024)  # HAProxy closes (possibly after a 408): recv returns once it does
        waited = time.monotonic() - started
    assert 0.2 < waited < 2.0


def test_connection_limit_makes_the_next_connection_wait(dp: Dataplane) -> None:
    m = dp.member("m1")
    limited, free = dp.port(), dp.port()
    dp.haproxy([ListenerSpec(id="limited", protocol="HTTP", protocol_port=limited, default_pool_id="pool-1",
                             connection_limit=1),
                ListenerSpec(id="free", protocol="HTTP", protocol_port=free, default_pool_id="pool-1")],
               [pool_of(m)])
    slow = threading.Thread(target=request, args=(f"http://{dp.vip}:{limited}/?sleep=2",), kwargs={"timeout": 5})
    slow.start()
    try:
        wait_for("the slow request to hold the only connection", lambda: m.active == 1, timeout=3, interval=0.02)
        # The other listener (no limit) answers at once: the member itself is not the bottleneck.
        started = time.monotonic()
        assert request(f"http://{dp.vip}:{free}/").status == 200
        assert time.monotonic() - started < 1.0
        # The limited listener does not take a second connection until the first is done: it waits, then works.
        started = time.monotonic()
        assert request(f"http://{dp.vip}:{limited}/", timeout=5).status == 200
        waited = time.monotonic() - started
        assert waited > 0.5, f"the second connection was served after {waited:.2f}s, during the first"
    finally:
        slow.join(6)
