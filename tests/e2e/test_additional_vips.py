"""Additional VIPs on real amphorae (root): `ostia up` with the netns network driver and a second subnet on the
VIP network (`public-extra-subnet`), one client namespace on each public subnet, HTTP members in namespaces of
their own. A load balancer created with `additional_vips` answers on the VIP and on the additional VIP:

1. SINGLE: the amphora's eth1 carries both addresses and HAProxy serves both.
2. ACTIVE_STANDBY: both amphorae's keepalived.conf hold both VIPs, the MASTER holds both addresses and serves
   both; when its keepalived and HAProxy die, the BACKUP takes both addresses over and serves both.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import OstiaServer
from tests.support import failover as fo
from tests.support.backends import Member

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the netns network driver and keepalived need root")
PROJECT = "p-addvip"
EXTRA_CIDR = "198.19.252.0/24"  # outside netns_stack's random 198.18.N/198.19.N (N < 250) subnets


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OstiaServer, Any, dict[str, str], list[Member],
                                                                      dict[str, str]]]:
    """One stack for both tests (its start and the members are the slow part): server, hosts, subnet ids,
    members, and a client namespace per public subnet."""
    with fo.netns_stack(tmp_path_factory.mktemp("addvip"), "house_keeping.spare_amphora_pool_size=0",
                     extra_subnets=(f"public:public-extra-subnet:{EXTRA_CIDR}",)) as (server, hosts):
        subnets = fo.subnet_ids(server)
        clients = {name: hosts.attach_host(f"client-{name}", subnets[name])[0]
                   for name in ("public-subnet", "public-extra-subnet")}
        members = fo.attach_members(hosts, subnets["private-subnet"])
        try:
            yield server, hosts, subnets, members, clients
        finally:
            for m in members:
                m.stop()


def _create(server: OstiaServer, subnets: dict[str, str], members: list[Member], name: str,
            flavor_id: str | None = None) -> tuple[dict[str, Any], str]:
    lb = fo.create_http_lb(server, subnets, members, PROJECT, name, flavor_id=flavor_id,
                        additional_vips=[{"subnet_id": subnets["public-extra-subnet"]}])
    (extra,) = lb["additional_vips"]
    assert extra["subnet_id"] == subnets["public-extra-subnet"] and extra["port_id"], extra
    # The network driver allocated it on the additional subnet.
    assert ipaddress.ip_address(extra["ip_address"]) in ipaddress.ip_network(EXTRA_CIDR), extra
    return lb, str(extra["ip_address"])


def _served(clients: dict[str, str], vips: dict[str, str], what: str) -> None:
    """Each client namespace gets answers from both members through the VIP on its subnet."""
    for subnet, vip in vips.items():
        with fo.Probe(clients[subnet], vip, 8080, limit=15) as probe:
            fo.wait_for(lambda: len({who for _, who in probe.results if who}) == 2, 10,
                     f"both members through {vip} ({subnet}) {what}")


def test_single_load_balancer_serves_its_additional_vip(stack: Any) -> None:
    server, hosts, subnets, members, clients = stack
    lb, extra = _create(server, subnets, members, "single")
    (amp,) = fo.allocated_amphorae(server, lb["id"])
    assert {lb["vip_address"], extra} <= fo.addresses(hosts.namespace_for(amp["id"]))
    _served(clients, {"public-subnet": lb["vip_address"], "public-extra-subnet": extra}, "(SINGLE)")
    fo.delete_lb(server, lb["id"], PROJECT)


def test_active_standby_moves_the_additional_vip_with_keepalived(stack: Any) -> None:
    server, hosts, subnets, members, clients = stack
    lb, extra = _create(server, subnets, members, "ha", flavor_id=fo.ha_flavor(server))
    vips = {lb["vip_address"], extra}
    amps = {a["role"]: a for a in fo.allocated_amphorae(server, lb["id"])}
    assert set(amps) == {"MASTER", "BACKUP"}
    ns = {role: hosts.namespace_for(a["id"]) for role, a in amps.items()}
    amp_dir = {role: server.state_dir / "amphorae" / a["id"] for role, a in amps.items()}
    for role, d in amp_dir.items():
        (conf,) = d.rglob("keepalived.conf")
        text = conf.read_text()
        assert all(f"{v}/24 dev eth1" in text for v in vips), (role, text)
    fo.wait_for(lambda: vips <= fo.addresses(ns["MASTER"]), 15, "the MASTER to hold both VIPs")
    assert not vips & fo.addresses(ns["BACKUP"])
    _served(clients, {"public-subnet": lb["vip_address"], "public-extra-subnet": extra}, "through the MASTER")

    fo.kill_all(fo.amphora_pids(amp_dir["MASTER"], agent=False, keepalived=True))
    killed = time.monotonic()
    fo.wait_for(lambda: vips <= fo.addresses(ns["BACKUP"]), 15, "the BACKUP to take both VIPs")
    print(f"\nMASTER's keepalived and HAProxy SIGKILLed: BACKUP holds both VIPs after "
          f"{time.monotonic() - killed:.2f} s")
    _served(clients, {"public-subnet": lb["vip_address"], "public-extra-subnet": extra}, "through the BACKUP")
    fo.delete_lb(server, lb["id"], PROJECT)
