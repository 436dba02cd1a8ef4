"""The README walk-through on real amphorae: `ostia up` with its default drivers (local compute, loopback
network, the agent over mutual TLS), driven by the real `openstack loadbalancer` CLI, with traffic from a real
HTTP client through the HAProxy the agent runs to real member servers.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Cli, ForkServer, OstiaServer, client_env, ostia_up
from tests.support.backends import http_backends


def loopback_networks(octet: int) -> list[str]:
    """Networks of their own for one test server, so parallel servers never share a VIP or agent address."""
    return [f"networking.networks=public:public-subnet:127.{octet}.1.0/24,private:private-subnet:127.{octet}.2.0/24",
            f"local_compute.mgmt_cidr=127.{octet}.3.0/24"]


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OstiaServer]:
    octet = random.randrange(100, 250)
    with ostia_up(tmp_path_factory.mktemp("ostia-real"), *loopback_networks(octet)) as server:
        server.octet = octet  # type: ignore[attr-defined]
        yield server


@pytest.fixture(scope="module")
def real_cli(real_server: OstiaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    forks = ForkServer()
    try:
        yield Cli(real_server, client_env(tmp_path_factory.mktemp("cli-home")), forks)
    finally:
        forks.close()


def get(url: str, host: str | None = None) -> httpx.Response:
    headers = {"Host": host} if host else {}
    return httpx.get(url, headers=headers, timeout=5)


def members_seen(url: str, n: int, host: str | None = None) -> list[str]:
    return [get(url, host).text.strip() for _ in range(n)]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def wait_dead(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_walkthrough_round_robin_l7_and_cascade_delete(real_cli: Cli, real_server: OstiaServer) -> None:
    cli = real_cli
    octet: int = real_server.octet  # type: ignore[attr-defined]
    lb: dict[str, Any] = cli("create", "--name", "lb1", "--vip-subnet-id", "public-subnet", "--wait")
    vip = lb["vip_address"]
    assert vip.startswith(f"127.{octet}.1."), lb
    cli("listener", "create", "--name", "l1", "--protocol", "HTTP", "--protocol-port", "8080", "lb1", "--wait")
    cli("pool", "create", "--name", "p1", "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN",
        "--listener", "l1", "--wait")
    with http_backends(("m1", f"127.{octet}.2.10"), ("m2", f"127.{octet}.2.11"), ("api", f"127.{octet}.2.12"),
                       port=8081):
        for i, address in enumerate((f"127.{octet}.2.10", f"127.{octet}.2.11")):
            cli("member", "create", "--name", f"m{i + 1}", "--address", address, "--protocol-port", "8081",
                "--subnet-id", "private-subnet", "p1", "--wait")
        url = f"http://{vip}:8080/"
        seen = members_seen(url, 6)
        assert sorted(set(seen)) == ["m1", "m2"], seen
        assert all(a != b for a, b in zip(seen, seen[1:], strict=False)), f"round robin alternates: {seen}"

        # Host-based routing: an L7 policy sends api.* to a second pool.
        cli("pool", "create", "--name", "p2", "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN",
            "--loadbalancer", "lb1", "--wait")
        cli("member", "create", "--address", f"127.{octet}.2.12", "--protocol-port", "8081",
            "--subnet-id", "private-subnet", "p2", "--wait")
        cli("l7policy", "create", "--name", "to-api", "--action", "REDIRECT_TO_POOL", "--redirect-pool", "p2",
            "l1", "--wait")
        cli("l7rule", "create", "--type", "HOST_NAME", "--compare-type", "STARTS_WITH", "--value", "api",
            "to-api", "--wait")
        assert set(members_seen(url, 4, host="api.example.com")) == {"api"}
        assert set(members_seen(url, 4, host="www.example.com")) == {"m1", "m2"}

        status = cli("status", "show", "lb1")
        assert status["loadbalancer"]["provisioning_status"] == "ACTIVE"

        amps = cli("amphora", "list", "--loadbalancer", lb["id"])
        assert len(amps) == 1 and amps[0]["status"] == "ALLOCATED", amps
        amp_dir = real_server.state_dir / "amphorae" / amps[0]["id"]
        agent_pid = int((amp_dir / "agent.pid").read_text())
        haproxy_pid = int(next(amp_dir.rglob("haproxy.pid")).read_text())
        assert pid_alive(agent_pid) and pid_alive(haproxy_pid)

        cli("delete", "--cascade", "lb1", "--wait")
        assert wait_dead(agent_pid), "the agent is gone with its load balancer"
        assert wait_dead(haproxy_pid), "HAProxy is gone with its load balancer"
        assert not amp_dir.exists()
        with pytest.raises(httpx.TransportError):
            get(url)
