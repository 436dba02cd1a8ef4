"""The netns network driver with real namespaces, bridges and veths (root only).

Traffic goes only between namespaces this test creates, on 198.18.0.0/15; the host namespace never sends
to those addresses and must end with exactly the interfaces it started with.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator

import pytest
from oslo_config import cfg

from ostia import conf as ostia_conf
from ostia.db.engine import Database
from ostia.drivers.network import iproute
from ostia.drivers.network.netns import NetnsNetworkDriver, fabric_end
from ostia.netns import run_in
from tests.functional.test_network_drivers import seeded_database, subnet_id

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

SPECS = ["vipnet:vip-subnet:198.18.1.0/24", "memnet:mem-subnet:198.18.2.0/24"]


def host_links() -> list[str]:
    out = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True, timeout=10).stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.strip())


def links(ns: str) -> list[dict[str, object]]:
    out = subprocess.run(["ip", "-j", "-n", ns, "link", "show"], capture_output=True, text=True, check=True,
                         timeout=10).stdout
    return list(json.loads(out))


def ping(ns: str, address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, "ping", "-c1", "-W1", address], capture_output=True,
                          text=True, timeout=10)


def configure_like_the_agent(ns: str, mac: str, name: str, cidr_address: str) -> None:
    """What the agent does on plug: find the NIC by MAC, rename it, address it, bring it up."""
    (nic,) = [link["ifname"] for link in links(ns) if link.get("address") == mac]
    iproute.ip("-n", ns, "link", "set", "dev", str(nic), "name", name)
    iproute.ip("-n", ns, "addr", "add", cidr_address, "dev", name)
    iproute.ip("-n", ns, "link", "set", "dev", name, "up")


@pytest.fixture
def netns_driver(sqlite_url: str) -> Iterator[tuple[NetnsNetworkDriver, Database]]:
    prefix = f"ostiat{secrets.token_hex(3)}"
    with seeded_database(sqlite_url, SPECS) as (conf, db):
        conf.set_override("netns_prefix", prefix, group="networking")
        driver = NetnsNetworkDriver(conf, db)
        try:
            yield driver, db
        finally:
            driver.teardown()
            assert not [ns for ns in iproute.namespaces() if ns.startswith(prefix)]


def test_netns_driver_refuses_networks_outside_the_fabric_range() -> None:
    conf: cfg.ConfigOpts = ostia_conf.load()  # default networks are 127.x: loopback's, not netns's
    with pytest.raises(ValueError, match=r"only serves subnets of 198\.18\.0\.0/15"):
        NetnsNetworkDriver(conf, None)  # type: ignore[arg-type]
    conf.set_override("networks", SPECS, group="networking")
    conf.set_override("netns_prefix", "bad-prefix", group="networking")
    with pytest.raises(ValueError, match="netns_prefix"):
        NetnsNetworkDriver(conf, None)  # type: ignore[arg-type]


def test_netns_amphora_reaches_clients_and_members_and_release_cleans_up(
        netns_driver: tuple[NetnsNetworkDriver, Database]) -> None:
    driver, _ = netns_driver
    before = host_links()
    amp_id, lb_id = str(uuid.uuid4()), str(uuid.uuid4())
    vip_sub, mem_sub = subnet_id("vip-subnet"), subnet_id("mem-subnet")

    amp_ns = driver.ensure_amphora_namespace(amp_id)
    assert amp_ns == driver.namespace_for(amp_id) == f"{driver.prefix}-amp-{amp_id.replace('-', '')[:12]}"
    assert driver.ensure_amphora_namespace(amp_id) == amp_ns and iproute.namespace_exists(amp_ns)

    vip = driver.allocate_vip(lb_id, vip_sub, None, None, None)
    plug = driver.plug_vip(amp_id, vip)
    assert driver.plug_vip(amp_id, vip) == plug  # a resumed flow re-runs it
    assert plug.ip_address != vip.address and plug.subnet_cidr == "198.18.1.0/24" and plug.gateway == "198.18.1.1"
    assert int(plug.mac_address[:2], 16) & 0x03 == 0x02  # locally administered unicast
    members = driver.plug_member_networks(amp_id, [mem_sub, vip_sub, str(uuid.uuid4())])
    assert [m.subnet_id for m in members] == [mem_sub]  # the VIP subnet already has a NIC; unknown ignored
    assert driver.plug_member_networks(amp_id, [mem_sub]) == members
    assert sorted(str(link["address"]) for link in links(amp_ns) if link["ifname"] != "lo") == sorted(
        [plug.mac_address, members[0].mac_address])

    client_ns, client_ip = driver.attach_host("client", vip_sub)
    member_ns, member_ip = driver.attach_host("mem1", mem_sub, "198.18.2.21")
    assert member_ip == "198.18.2.21" and client_ip.startswith("198.18.1.")

    configure_like_the_agent(amp_ns, plug.mac_address, "eth1", f"{plug.ip_address}/24")
    iproute.ip("-n", amp_ns, "addr", "add", f"{vip.address}/32", "dev", "eth1")
    configure_like_the_agent(amp_ns, members[0].mac_address, "eth2", f"{members[0].ip_address}/24")

    for ns, address in ((client_ns, plug.ip_address), (client_ns, vip.address), (amp_ns, member_ip)):
        result = ping(ns, address)
        assert result.returncode == 0, f"{ns} → {address}: {result.stdout}{result.stderr}"
    assert ping(client_ns, member_ip).returncode != 0  # no routes between networks: only via the amphora

    # A host process talks inside the namespaces through setns'd sockets, never from the host namespace.
    server = run_in(member_ns, socket.create_server, (member_ip, 0))
    port = server.getsockname()[1]
    accepted: list[bytes] = []

    def serve() -> None:
        server.settimeout(10)
        conn, _ = server.accept()
        with conn:
            accepted.append(conn.recv(16))
            conn.sendall(b"pong")

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with run_in(amp_ns, socket.create_connection, (member_ip, port), 5) as client:
            client.sendall(b"ping")
            assert client.recv(16) == b"pong"
    finally:
        thread.join(15)
        server.close()
    assert accepted == [b"ping"]

    assert host_links() == before  # nothing was plugged into the host namespace

    fabric_ports = {fabric_end(p.port_id) for p in driver.ipam.ports(amp_id)}
    assert len(fabric_ports) == 2 and all(iproute.link_exists(driver.fabric, n) for n in fabric_ports)
    driver.release_amphora(amp_id)
    driver.release_amphora(amp_id)  # idempotent
    assert not iproute.namespace_exists(amp_ns)
    assert not any(iproute.link_exists(driver.fabric, n) for n in fabric_ports)
    assert driver.ipam.ports(amp_id) == []
    driver.deallocate_vip(lb_id)

    driver.detach_host("client")
    assert not iproute.namespace_exists(client_ns)
    assert ping(member_ns, plug.ip_address).returncode != 0
    assert host_links() == before


def test_netns_unplug_vip_removes_only_the_vrrp_nic(netns_driver: tuple[NetnsNetworkDriver, Database]) -> None:
    driver, _ = netns_driver
    amp_id, lb_id = str(uuid.uuid4()), str(uuid.uuid4())
    vip = driver.allocate_vip(lb_id, subnet_id("vip-subnet"), None, None, None)
    plug = driver.plug_vip(amp_id, vip)
    (member,) = driver.plug_member_networks(amp_id, [subnet_id("mem-subnet")])
    driver.unplug_vip(amp_id, vip)
    driver.unplug_vip(amp_id, vip)
    amp_macs = [link["address"] for link in links(driver.namespace_for(amp_id)) if link["ifname"] != "lo"]
    assert amp_macs == [member.mac_address] and plug.mac_address not in amp_macs
    assert [p.subnet_id for p in driver.ipam.ports(amp_id)] == [subnet_id("mem-subnet")]
