"""Real traffic through the rendered HAProxy config: balancing algorithms and session persistence."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from ostia.domain.spec import ListenerSpec, MemberSpec, PoolSpec, SessionPersistenceSpec
from tests.support.dataplane import HAPROXY, Dataplane, Member, dataplane, members_hit, request, wait_for

pytestmark = pytest.mark.skipif(not HAPROXY, reason="haproxy is not installed")


@pytest.fixture
def dp() -> Iterator[Dataplane]:
    with dataplane() as rig:
        yield rig


def http_lb(dp: Dataplane, members: list[Member], algorithm: str = "ROUND_ROBIN",
            persistence: SessionPersistenceSpec | None = None, protocol: str = "HTTP") -> str:
    """One listener → one pool of `members`; returns the listener URL."""
    port = dp.port()
    pool = PoolSpec(id="pool-1", protocol=protocol, lb_algorithm=algorithm, session_persistence=persistence,
                    members=tuple(MemberSpec(id=m.name, address=m.address, protocol_port=m.port) for m in members))
    dp.haproxy([ListenerSpec(id="listener-1", protocol=protocol, protocol_port=port, default_pool_id="pool-1")],
               [pool])
    return f"http://{dp.vip}:{port}/"


def test_round_robin_alternates_between_members(dp: Dataplane) -> None:
    url = http_lb(dp, [dp.member("m1"), dp.member("m2")])
    seen = members_hit(url, 6)
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False)), seen
    assert Counter(seen) == {"m1": 3, "m2": 3}


def test_round_robin_in_tcp_mode_alternates_connections(dp: Dataplane) -> None:
    url = http_lb(dp, [dp.member("m1"), dp.member("m2")], protocol="TCP")
    seen = members_hit(url, 4)
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False)), seen


def test_least_connections_avoids_the_member_holding_a_slow_request(dp: Dataplane) -> None:
    m1, m2 = dp.member("m1"), dp.member("m2")
    url = http_lb(dp, [m1, m2], algorithm="LEAST_CONNECTIONS")
    slow = threading.Thread(target=request, args=(url + "?sleep=2",), kwargs={"timeout": 5})
    slow.start()
    try:
        busy = wait_for("the slow request to reach a member", lambda: next((m for m in (m1, m2) if m.active), None),
                        timeout=3, interval=0.02)
        idle = m2 if busy is m1 else m1
        seen = []
        for _ in range(5):
            seen.append(request(url).member)
            # HAProxy releases a finished request's slot just after the reply is out: without a pause the next
            # request can see a 1:1 tie and be balanced to the busy member.
            time.sleep(0.1)
        assert busy.active == 1, "the slow request must still be held open"
        assert seen == [idle.name] * 5
    finally:
        slow.join(6)


def test_source_ip_algorithm_keeps_a_client_on_one_member(dp: Dataplane) -> None:
    url = http_lb(dp, [dp.member("m1"), dp.member("m2")], algorithm="SOURCE_IP")
    per_client = {src: set(members_hit(url, 3, source=dp.addr(src))) for src in range(100, 116)}
    assert all(len(s) == 1 for s in per_client.values()), per_client
    # The hash spreads different clients: with 16 sources, both members are used (all on one: ~2**-15).
    assert set().union(*per_client.values()) == {"m1", "m2"}


def test_source_ip_persistence_sticks_each_client(dp: Dataplane) -> None:
    url = http_lb(dp, [dp.member("m1"), dp.member("m2")], persistence=SessionPersistenceSpec(type="SOURCE_IP"))
    a = members_hit(url, 4, source=dp.addr(100))
    b = members_hit(url, 4, source=dp.addr(101))
    assert len(set(a)) == 1 and len(set(b)) == 1, (a, b)
    # Round robin placed the second client's first request on the other member, and it stays there.
    assert a[0] != b[0]


def test_http_cookie_persistence_pins_a_client_with_the_srv_cookie(dp: Dataplane) -> None:
    url = http_lb(dp, [dp.member("m1"), dp.member("m2")], persistence=SessionPersistenceSpec(type="HTTP_COOKIE"))
    first = request(url)
    cookie = first.headers.get("set-cookie", "")
    assert cookie.startswith(f"SRV={first.member}"), cookie
    pinned = members_hit(url, 4, cookies={"SRV": str(first.member)})
    assert pinned == [first.member] * 4
    # A new client (no cookie) is balanced: round robin sends it to the other member.
    assert request(url).member != first.member
    # The cookie names the member id: asking for the other one pins there.
    other = "m2" if first.member == "m1" else "m1"
    assert members_hit(url, 3, cookies={"SRV": other}) == [other] * 3


def test_app_cookie_persistence_follows_the_members_cookie(dp: Dataplane) -> None:
    url = http_lb(dp, [dp.member("m1"), dp.member("m2")],
                  persistence=SessionPersistenceSpec(type="APP_COOKIE", cookie_name="JSESSIONID"))
    first = request(url + "?setcookie=JSESSIONID")
    session = first.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert session.startswith(str(first.member))
    assert members_hit(url, 4, cookies={"JSESSIONID": session}) == [first.member] * 4
    # Without the cookie, requests are balanced again.
    assert set(members_hit(url, 4)) == {"m1", "m2"}
