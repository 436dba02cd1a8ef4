"""Every rendered nginx.conf shape is one real nginx accepts (`nginx -t`), so the renderer's golden-ish unit
tests never pin a config nginx would refuse. (`nginx -t` binds the listen addresses, so the VIPs here are
loopback ones.)"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from ostia.domain.udp import UdpListenerSpec, UdpMemberSpec, UdpSessionPersistenceSpec
from ostia.render.nginx import NginxPaths, render_nginx
from tests.functional.udp_support import udp_port

M1 = UdpMemberSpec(id="m1", address="10.0.0.1", protocol_port=53, weight=2)
M2 = UdpMemberSpec(id="m2", address="10.0.0.2", protocol_port=53, backup=True)
M3 = UdpMemberSpec(id="m3", address="2001:db8::3", protocol_port=53, enabled=False)
BASE = UdpListenerSpec(id="l1", protocol_port=udp_port("127.0.0.1"), vip_addresses=("127.0.0.1", "::1"),
                       lb_algorithm="ROUND_ROBIN", members=(M1, M2, M3))
CASES = {
    "round_robin": (BASE, set()),
    "least_conn_limit": (replace(BASE, lb_algorithm="LEAST_CONNECTIONS", connection_limit=10**6), set()),
    "source_ip": (replace(BASE, lb_algorithm="SOURCE_IP"), set()),
    "source_ip_backup_serving": (replace(BASE, lb_algorithm="SOURCE_IP"), {"m1"}),
    "persistence_granularity": (replace(BASE, session_persistence=UdpSessionPersistenceSpec(
        persistence_granularity="255.255.255.0")), set()),
    "persistence_all": (replace(BASE, session_persistence=UdpSessionPersistenceSpec(
        persistence_granularity="0.0.0.0")), set()),
    "all_down": (BASE, {"m1", "m2"}),
    "no_members": (replace(BASE, members=()), set()),
    "allowed_cidrs": (replace(BASE, allowed_cidrs=("10.0.0.0/8", "2001:db8::/32")), set()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_nginx_accepts_rendered_config(case: str, tmp_path: Path) -> None:
    spec, down = CASES[case]
    paths = NginxPaths(pid_file=str(tmp_path / "nginx.pid"), error_log=str(tmp_path / "error.log"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx(spec, down, paths))
    done = subprocess.run(["nginx", "-t", "-q", "-c", str(conf), "-e", str(tmp_path / "error.log"),
                           "-p", str(tmp_path)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
