"""nginx.conf rendering for UDP listeners, and the UDP spec's wire form."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from ostia.domain.errors import BadRequest
from ostia.domain.udp import (
    UdpHealthMonitorSpec,
    UdpListenerSpec,
    UdpMemberSpec,
    UdpSessionPersistenceSpec,
    expected_code_set,
)
from ostia.render.nginx import MAX_SESSIONS, NginxPaths, render_nginx
from ostia.render.quoting import Unsafe

PATHS = NginxPaths(pid_file="/var/lib/ostia/udp/l1/nginx.pid", error_log="/var/lib/ostia/udp/l1/error.log")
M1 = UdpMemberSpec(id="m1", address="10.0.0.1", protocol_port=53, weight=2)
M2 = UdpMemberSpec(id="m2", address="10.0.0.2", protocol_port=53)
BASE = UdpListenerSpec(id="l1", protocol_port=53, vip_addresses=("192.0.2.10",), lb_algorithm="ROUND_ROBIN",
                       members=(M1, M2))

GOLDEN_ROUND_ROBIN = """\
# Configuration for UDP listener l1
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon on;
worker_processes 1;
pid /var/lib/ostia/udp/l1/nginx.pid;
error_log /var/lib/ostia/udp/l1/error.log warn;

events {
    worker_connections 8192;
}

stream {
    upstream l1 {
        server 10.0.0.1:53 weight=2 max_fails=0;  # member m1
        server 10.0.0.2:53 weight=1 max_fails=0;  # member m2
    }

    server {
        listen 192.0.2.10:53 udp;
        proxy_pass l1;
        proxy_responses 1;
        proxy_timeout 10s;
    }
}
"""


def _upstream(text: str) -> list[str]:
    block = text.split("upstream l1 {", 1)[1].split("}", 1)[0]
    return [line.strip() for line in block.strip().splitlines()]


def test_round_robin_golden() -> None:
    assert render_nginx(BASE, set(), PATHS) == GOLDEN_ROUND_ROBIN


@pytest.mark.parametrize(("changes", "balance"), [
    ({"lb_algorithm": "LEAST_CONNECTIONS"}, "least_conn;"),
    ({"lb_algorithm": "SOURCE_IP"}, "hash $remote_addr consistent;"),
    ({"session_persistence": UdpSessionPersistenceSpec()}, "hash $remote_addr consistent;"),
    ({"lb_algorithm": "LEAST_CONNECTIONS", "session_persistence": UdpSessionPersistenceSpec()},
     "hash $remote_addr consistent;"),
])
def test_algorithms(changes: dict[str, Any], balance: str) -> None:
    assert _upstream(render_nginx(replace(BASE, **changes), set(), PATHS))[0] == balance


@pytest.mark.parametrize(("granularity", "regex"), [
    ("255.255.255.0", r'"~^(\d+\.\d+\.\d+)\." $1;'),
    ("255.255.240.0", r'"~^(\d+\.\d+)\." $1;'),  # /20 rounds down to /16
    ("0.0.0.0", r'"~^()\d+\." $1;'),
])
def test_persistence_granularity_maps_the_client_prefix(granularity: str, regex: str) -> None:
    sp = UdpSessionPersistenceSpec(persistence_granularity=granularity)
    text = render_nginx(replace(BASE, session_persistence=sp), set(), PATHS)
    assert f"map $remote_addr $ostia_source {{\n        {regex}\n        default $remote_addr;" in text
    assert _upstream(text)[0] == "hash $ostia_source consistent;"


@pytest.mark.parametrize("granularity", ["255.255.255.255", "ffff:ffff:ffff:ffff::", None])
def test_whole_address_persistence_needs_no_map(granularity: str | None) -> None:
    sp = UdpSessionPersistenceSpec(persistence_granularity=granularity)
    text = render_nginx(replace(BASE, session_persistence=sp), set(), PATHS)
    assert "map " not in text and _upstream(text)[0] == "hash $remote_addr consistent;"


def test_down_members_admin_weight_and_health() -> None:
    members = (M1, replace(M2, enabled=False), UdpMemberSpec(id="m3", address="10.0.0.3", protocol_port=53,
                                                             weight=0),
               UdpMemberSpec(id="m4", address="10.0.0.4", protocol_port=53))
    lines = _upstream(render_nginx(replace(BASE, members=members), {"m4"}, PATHS))
    assert lines == [
        "server 10.0.0.1:53 weight=2 max_fails=0;  # member m1",
        "server 10.0.0.2:53 down;  # member m2 (admin down)",
        "server 10.0.0.3:53 down;  # member m3 (weight 0)",
        "server 10.0.0.4:53 down;  # member m4 (health check DOWN)",
    ]


def test_backup_is_a_flag_for_round_robin_and_least_conn() -> None:
    spec = replace(BASE, members=(M1, replace(M2, backup=True)))
    for algorithm in ("ROUND_ROBIN", "LEAST_CONNECTIONS"):
        lines = _upstream(render_nginx(replace(spec, lb_algorithm=algorithm), set(), PATHS))
        assert "server 10.0.0.2:53 weight=1 max_fails=0 backup;  # member m2" in lines


def test_hash_leaves_backups_out_until_every_primary_is_down() -> None:
    spec = replace(BASE, lb_algorithm="SOURCE_IP", members=(M1, replace(M2, backup=True)))
    assert _upstream(render_nginx(spec, set(), PATHS)) == [
        "hash $remote_addr consistent;", "server 10.0.0.1:53 weight=2 max_fails=0;  # member m1"]
    assert _upstream(render_nginx(spec, {"m1"}, PATHS)) == [
        "hash $remote_addr consistent;",
        "server 10.0.0.1:53 down;  # member m1 (health check DOWN)",
        "server 10.0.0.2:53 weight=1 max_fails=0;  # member m2 (backup, serving: every primary is down)"]


@pytest.mark.parametrize(("limit", "expected"), [(-1, None), (0, None), (100, 100), (10**6, MAX_SESSIONS)])
def test_connection_limit(limit: int, expected: int | None) -> None:
    text = render_nginx(replace(BASE, connection_limit=limit), set(), PATHS)
    if expected is None:
        assert "limit_conn" not in text
    else:
        assert "limit_conn_zone $server_port zone=l1:1m;" in text and f"limit_conn l1 {expected};" in text


def test_ipv6_addresses_are_bracketed_and_every_vip_listens() -> None:
    spec = replace(BASE, vip_addresses=("192.0.2.10", "2001:db8::10"),
                   members=(UdpMemberSpec(id="m6", address="2001:db8::1", protocol_port=53),))
    text = render_nginx(spec, set(), PATHS)
    assert "listen 192.0.2.10:53 udp;\n        listen [2001:db8::10]:53 udp;" in text
    assert "server [2001:db8::1]:53 weight=1 max_fails=0;" in text


def test_no_members_listens_nowhere() -> None:
    text = render_nginx(replace(BASE, members=()), set(), PATHS)
    assert "upstream" not in text and "server {" not in text
    assert "# No members: nothing listens on 192.0.2.10:53." in text


def test_unsafe_values_are_refused_or_left_out() -> None:
    odd = UdpMemberSpec(id="m;x", address="10.0.0.9", protocol_port=53)
    named = UdpMemberSpec(id="m9", address="host.example", protocol_port=53)
    lines = _upstream(render_nginx(replace(BASE, members=(M1, odd, named)), set(), PATHS))
    assert lines == ["server 10.0.0.1:53 weight=2 max_fails=0;  # member m1"]
    with pytest.raises(Unsafe):
        render_nginx(replace(BASE, id="l1 { }"), set(), PATHS)
    for bad in ("/tmp/$x/nginx.pid", '/tmp/"/nginx.pid', "/tmp/a\nb"):
        with pytest.raises(Unsafe):
            render_nginx(BASE, set(), replace(PATHS, pid_file=bad))
    spaced = render_nginx(BASE, set(), replace(PATHS, pid_file="/tmp/with space/nginx.pid"))
    assert 'pid "/tmp/with space/nginx.pid";' in spaced


def test_wire_form_round_trips() -> None:
    spec = replace(BASE, connection_limit=10, pool_id="p1", allowed_cidrs=("10.0.0.0/8", "2001:db8::/32"),
                   session_persistence=UdpSessionPersistenceSpec(persistence_timeout=60,
                                                                 persistence_granularity="255.255.0.0"),
                   members=(replace(M1, monitor_address="10.0.1.1", monitor_port=9000), replace(M2, backup=True)),
                   health_monitor=UdpHealthMonitorSpec(type="HTTP", delay=5, timeout=2, max_retries=2,
                                                       http_method="GET", url_path="/hc", expected_codes="200,202",
                                                       domain_name="example.com"))
    assert UdpListenerSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"id": "has space"}, "id"),
    ({"protocol_port": 0}, "protocol_port"),
    ({"protocol_port": True}, "protocol_port"),
    ({"vip_addresses": []}, "vip_addresses"),
    ({"lb_algorithm": "SOURCE_IP_PORT"}, "lb_algorithm"),
    ({"members": [{"id": "m", "address": "10.0.0.1", "protocol_port": 53, "weight": 257}]}, "weight"),
    ({"members": [{"id": "m", "address": "10.0.0.1", "protocol_port": 53}] * 2}, "unique"),
    ({"session_persistence": {"type": "HTTP_COOKIE"}}, "SOURCE_IP"),
    ({"session_persistence": {"type": "SOURCE_IP", "persistence_granularity": "255.0.255.0"}}, "netmask"),
    ({"health_monitor": {"type": "TLS-HELLO", "delay": 1, "timeout": 1, "max_retries": 1}}, "type"),
    ({"health_monitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 11}}, "max_retries"),
    ({"health_monitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1, "url_path": "x y"}},
     "url_path"),
    ({"health_monitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1, "expected_codes": "2xx"}},
     "expected_codes"),
])
def test_wire_form_rejects(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        UdpListenerSpec.from_dict({**BASE.to_dict(), **changes})


def test_expected_codes() -> None:
    assert expected_code_set(None) == {200}
    assert expected_code_set("200, 202") == {200, 202}
    assert expected_code_set("200-204") == {200, 201, 202, 203, 204}
