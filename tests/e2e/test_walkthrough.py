"""The README walk-through on real amphorae: `ostia up` with its default drivers (local compute, the agent over
mutual TLS) driven by the real `openstack loadbalancer` CLI, with traffic from a real HTTP client through the
HAProxy the agent runs to real member servers — once with the `loopback` network driver, once with `netns`
(root: the amphora, the members and the client each in a namespace of their own, addresses from 198.18.0.0/15).
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ostia import conf as conf_mod
from ostia.db.engine import Database, default_url, make_engine
from tests.e2e.conftest import Cli, ForkServer, OstiaServer, client_env, ostia_up
from tests.support.backends import Member

Fetch = Callable[[str, "str | None"], str]


def pid_alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def wait_dead(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def cli_for(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[OstiaServer], Cli]]:
    forks = ForkServer()
    try:
        yield lambda server: Cli(server, client_env(tmp_path_factory.mktemp("cli-home")), forks)
    finally:
        forks.close()


def walkthrough(cli: Cli, server: OstiaServer, members: list[Member], fetch: Fetch, vip_prefix: str) -> None:
    """members: three member servers named m1, m2 and api."""
    lb: dict[str, Any] = cli("create", "--name", "lb1", "--vip-subnet-id", "public-subnet", "--wait")
    vip = lb["vip_address"]
    assert vip.startswith(vip_prefix), lb
    cli("listener", "create", "--name", "l1", "--protocol", "HTTP", "--protocol-port", "8080", "lb1", "--wait")
    cli("pool", "create", "--name", "p1", "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN",
        "--listener", "l1", "--wait")
    for m in members[:2]:
        cli("member", "create", "--name", m.name, "--address", m.address, "--protocol-port", str(m.port),
            "--subnet-id", "private-subnet", "p1", "--wait")
    url = f"http://{vip}:8080/"
    seen = [fetch(url, None) for _ in range(6)]
    assert sorted(set(seen)) == ["m1", "m2"], seen
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False)), f"round robin alternates: {seen}"

    # Host-based routing: an L7 policy sends api.* to a second pool.
    cli("pool", "create", "--name", "p2", "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN",
        "--loadbalancer", "lb1", "--wait")
    cli("member", "create", "--address", members[2].address, "--protocol-port", str(members[2].port),
        "--subnet-id", "private-subnet", "p2", "--wait")
    cli("l7policy", "create", "--name", "to-api", "--action", "REDIRECT_TO_POOL", "--redirect-pool", "p2",
        "l1", "--wait")
    cli("l7rule", "create", "--type", "HOST_NAME", "--compare-type", "STARTS_WITH", "--value", "api",
        "to-api", "--wait")
    assert {fetch(url, "api.example.com") for _ in range(4)} == {"api"}
    assert {fetch(url, "www.example.com") for _ in range(4)} == {"m1", "m2"}
    assert cli("status", "show", "lb1")["loadbalancer"]["provisioning_status"] == "ACTIVE"

    amps = cli("amphora", "list", "--loadbalancer", lb["id"])
    assert len(amps) == 1 and amps[0]["status"] == "ALLOCATED", amps
    amp_dir = server.state_dir / "amphorae" / amps[0]["id"]
    agent_pid = int((amp_dir / "agent.pid").read_text())
    haproxy_pid = int(next(amp_dir.rglob("haproxy.pid")).read_text())
    assert pid_alive(agent_pid) and pid_alive(haproxy_pid)

    cli("delete", "--cascade", "lb1", "--wait")
    assert wait_dead(agent_pid), "the agent is gone with its load balancer"
    assert wait_dead(haproxy_pid), "HAProxy is gone with its load balancer"
    assert not amp_dir.exists()
    with pytest.raises(httpx.TransportError):
        fetch(url, None)


def http_get(url: str, host: str | None) -> str:
    """The name of the member that answered."""
    return str(httpx.get(url, headers={"Host": host} if host else {}, timeout=5).json()["member"])


def test_walkthrough_on_loopback(cli_for: Callable[[OstiaServer], Cli], tmp_path: Path) -> None:
    net = random.randrange(100, 250)
    settings = [f"networking.networks=public:public-subnet:127.{net}.1.0/24,"
                f"private:private-subnet:127.{net}.2.0/24", f"local_compute.mgmt_cidr=127.{net}.3.0/24"]
    members = [Member(name, f"127.{net}.2.{i}") for name, i in (("m1", 10), ("m2", 11), ("api", 12))]
    try:
        with ostia_up(tmp_path, *settings) as server:
            walkthrough(cli_for(server), server, members, http_get, f"127.{net}.1.")
    finally:
        for m in members:
            m.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="the netns network driver needs root")
def test_walkthrough_on_netns_from_a_client_namespace(cli_for: Callable[[OstiaServer], Cli], tmp_path: Path) -> None:
    from ostia.drivers.network.netns import NetnsNetworkDriver
    from ostia.netns import run_in

    net = random.randrange(10, 250)
    prefix = f"ostiat{uuid.uuid4().hex[:6]}"
    networks = f"public:public-subnet:198.18.{net}.0/24,private:private-subnet:198.19.{net}.0/24"
    settings = ["controller_worker.network_driver=netns", f"networking.netns_prefix={prefix}",
                f"networking.networks={networks}", f"local_compute.mgmt_cidr=127.{net}.3.0/24"]
    conf = conf_mod.load([], {"networking": {"netns_prefix": prefix, "networks": networks}})
    members: list[Member] = []
    with ostia_up(tmp_path, *settings) as server:
        db = Database(make_engine(default_url(str(tmp_path))))
        hosts = NetnsNetworkDriver(conf, db)
        try:
            subnets = {s["name"]: s["id"] for s in server.get_json("/v2.0/subnets")["subnets"]}
            client_ns, _ = hosts.attach_host("client", subnets["public-subnet"])
            for name in ("m1", "m2", "api"):
                ns, address = hosts.attach_host(name, subnets["private-subnet"])
                members.append(Member(name, address, netns=ns))

            def fetch(url: str, host: str | None) -> str:
                return run_in(client_ns, http_get, url, host)

            walkthrough(cli_for(server), server, members, fetch, f"198.18.{net}.")
        finally:
            for m in members:
                m.stop()
            hosts.teardown()
            db.engine.dispose()
