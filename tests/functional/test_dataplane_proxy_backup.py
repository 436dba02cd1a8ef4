"""Real traffic: PROXY / PROXYV2 pools as the member receives them; backup, admin-down and weight-0 members."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from ostia.domain.spec import HealthMonitorSpec, ListenerSpec, MemberSpec, PoolSpec
from tests.support.dataplane import (
    PROXY_V2_SIGNATURE,
    CaptureMember,
    Dataplane,
    client_tls_context,
    dataplane,
    members_hit,
    request,
)
from tests.support.pki import Pki


@pytest.fixture
def dp() -> Iterator[Dataplane]:
    with dataplane() as rig:
        yield rig


def _pool(pool_id: str, protocol: str, member: CaptureMember) -> PoolSpec:
    return PoolSpec(id=pool_id, protocol=protocol, lb_algorithm="ROUND_ROBIN",
                    members=(MemberSpec(id=member.name, address=member.address, protocol_port=member.port),))


def _v2(data: bytes) -> tuple[str, str, int, int, bytes]:
    """(source, destination, source port, destination port, TLVs) of a PROXY v2 TCP4 header."""
    assert data.startswith(PROXY_V2_SIGNATURE)
    assert data[12] == 0x21, "version 2, PROXY command"
    assert data[13] == 0x11, "TCP over IPv4"
    length = int.from_bytes(data[14:16], "big")
    body = data[16:16 + length]
    return (str(ipaddress.IPv4Address(body[0:4])), str(ipaddress.IPv4Address(body[4:8])),
            int.from_bytes(body[8:10], "big"), int.from_bytes(body[10:12], "big"), body[12:])


def test_proxy_pool_sends_a_v1_line_with_the_client_address(dp: Dataplane) -> None:
    member = dp.capture_member("pm")
    port = dp.port()
    dp.haproxy([ListenerSpec(id="listener-1", protocol="TCP", protocol_port=port, default_pool_id="pool-1")],
               [_pool("pool-1", "PROXY", member)])
    client = dp.addr(50)
    assert request(f"http://{dp.vip}:{port}/", source=client).member == "pm"
    line, _, rest = member.received[0].partition(b"\r\n")
    fields = line.decode().split()
    assert fields[:4] == ["PROXY", "TCP4", client, dp.vip] and fields[5] == str(port)
    assert rest.startswith(b"GET / HTTP/1.1\r\n")


def test_proxyv2_pool_sends_the_binary_header_with_the_client_address(dp: Dataplane) -> None:
    member = dp.capture_member("pm")
    port = dp.port()
    dp.haproxy([ListenerSpec(id="listener-1", protocol="HTTP", protocol_port=port, default_pool_id="pool-1")],
               [_pool("pool-1", "PROXYV2", member)])
    client = dp.addr(51)
    assert request(f"http://{dp.vip}:{port}/", source=client).member == "pm"
    data = member.received[0]
    src, dst, _, dport, _ = _v2(data)
    assert (src, dst, dport) == (client, dp.vip, port)
    assert b"GET / HTTP/1.1\r\n" in data


def test_proxyv2_behind_tls_termination_carries_the_client_cn(dp: Dataplane) -> None:
    server_pki, client_pki = Pki("server CA"), Pki("client CA")
    member = dp.capture_member("pm")
    port = dp.port()
    s = dp.settings()
    tls = dp.listener_tls(s, "listener-1", [server_pki.bundle_pem("lb.example")], client_ca=client_pki.ca_pem(),
                          client_authentication="MANDATORY")
    dp.haproxy([ListenerSpec(id="listener-1", protocol="TERMINATED_HTTPS", protocol_port=port,
                             default_pool_id="pool-1", tls=tls)], [_pool("pool-1", "PROXYV2", member)], settings=s)
    ctx = client_tls_context(Path(dp.write(s, "ca.pem", server_pki.ca_pem())),
                             Path(dp.write(s, "alice.pem", client_pki.bundle_pem("alice.example"))))
    client = dp.addr(52)
    assert request(f"https://{dp.vip}:{port}/", source=client, tls=ctx).member == "pm"
    src, _, _, _, tlvs = _v2(member.received[0])
    assert src == client
    # send-proxy-v2-ssl-cn: a PP2_TYPE_SSL (0x20) TLV whose sub-TLVs hold the CN (PP2_SUBTYPE_SSL_CN, 0x22).
    assert tlvs[0] == 0x20
    assert b"\x22\x00\x0dalice.example" in tlvs


def test_backup_admin_down_and_weight_zero_members(dp: Dataplane) -> None:
    primary, backup, down, zero = dp.member("primary"), dp.member("backup"), dp.member("down"), dp.member("zero")
    hm = HealthMonitorSpec(type="TCP", delay=1, timeout=1, max_retries=1, max_retries_down=1)
    pool = PoolSpec(id="pool-1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", health_monitor=hm, members=(
        MemberSpec(id="primary", address=primary.address, protocol_port=primary.port),
        MemberSpec(id="backup", address=backup.address, protocol_port=backup.port, backup=True),
        MemberSpec(id="down", address=down.address, protocol_port=down.port, enabled=False),
        MemberSpec(id="zero", address=zero.address, protocol_port=zero.port, weight=0)))
    port = dp.port()
    lb = dp.haproxy([ListenerSpec(id="listener-1", protocol="HTTP", protocol_port=port, default_pool_id="pool-1")],
                    [pool])
    url = f"http://{dp.vip}:{port}/"
    backend = "pool-1:listener-1"
    assert lb.server_status(backend, "down") == "MAINT"
    assert members_hit(url, 6) == ["primary"] * 6
    primary.stop()
    lb.wait_status(backend, "primary", "DOWN")
    assert members_hit(url, 4) == ["backup"] * 4
    primary.start()
    lb.wait_status(backend, "primary", "UP")
    assert members_hit(url, 4) == ["primary"] * 4
    # The admin-down and the weight-0 members were never sent anything, even with the primary down.
    assert (down.hits, zero.hits) == (0, 0)
