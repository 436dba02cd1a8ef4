"""IPAM (ports as the address records) and the loopback network driver, against real databases."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator

import pytest
from oslo_config import cfg
from sqlalchemy import func, select

from ostia import conf as ostia_conf
from ostia.db import migrate
from ostia.db.engine import Database, make_engine
from ostia.db.models import Amphora, LoadBalancer, Port
from ostia.db.repositories import networks
from ostia.domain import errors
from ostia.drivers.network.ipam import OWNER_HOST, OWNER_MEMBER, OWNER_VIP, Ipam, mac_for
from ostia.drivers.network.loopback import LoopbackNetworkDriver
from tests.support.databases import BACKENDS, fresh_database

SMALL = ["small:small-subnet:10.9.8.0/29", "other:other-subnet:10.9.9.0/24"]


@contextlib.contextmanager
def seeded_database(url: str, specs: list[str], reserved: list[str] | None = None,
                    ) -> Iterator[tuple[cfg.ConfigOpts, Database]]:
    """A migrated database holding `specs` networks, and the config that names them."""
    conf = ostia_conf.load(overrides={"networking": {"networks": specs, "reserved_ips": reserved or []}})
    db = Database(make_engine(url, pool_size=4))
    try:
        migrate.upgrade(db.engine)
        with db.session() as session:
            networks.seed(session, specs)
        yield conf, db
    finally:
        db.engine.dispose()


def subnet_id(name: str) -> str:
    return networks.stable_id("subnet", name)


def network_id(name: str) -> str:
    return networks.stable_id("network", name)


@pytest.fixture
def small(sqlite_url: str) -> Iterator[tuple[cfg.ConfigOpts, Database]]:
    with seeded_database(sqlite_url, SMALL, reserved=["10.9.8.3"]) as pair:
        yield pair


def test_ipam_allocates_sequentially_skipping_gateway_and_reserved(small: tuple[cfg.ConfigOpts, Database]) -> None:
    _, db = small
    ipam = Ipam(db, ["10.9.8.3"])
    got = [ipam.allocate(subnet_id("small-subnet"), f"dev{i}", OWNER_HOST).ip_address for i in range(4)]
    # 10.9.8.0/29: .0 network, .1 gateway, .3 reserved, .7 broadcast
    assert got == ["10.9.8.2", "10.9.8.4", "10.9.8.5", "10.9.8.6"]
    with pytest.raises(errors.Conflict, match="No more IP addresses"):
        ipam.allocate(subnet_id("small-subnet"), "dev-full", OWNER_HOST)
    # A freed address is handed out again.
    ipam.release("dev1", OWNER_HOST)
    assert ipam.allocate(subnet_id("small-subnet"), "dev-late", OWNER_HOST).ip_address == "10.9.8.4"


def test_ipam_requested_address_taken_outside_or_reserved(small: tuple[cfg.ConfigOpts, Database]) -> None:
    _, db = small
    ipam = Ipam(db, ["10.9.8.3"])
    sub = subnet_id("small-subnet")
    alloc = ipam.allocate(sub, "a", OWNER_HOST, address="10.9.8.5")
    assert (alloc.ip_address, alloc.cidr, alloc.gateway) == ("10.9.8.5", "10.9.8.0/29", "10.9.8.1")
    assert alloc.mac_address == mac_for(alloc.port_id) and int(alloc.mac_address[:2], 16) & 0x03 == 0x02
    with pytest.raises(errors.Conflict, match=f"IP address 10.9.8.5 already allocated in subnet {sub}"):
        ipam.allocate(sub, "b", OWNER_HOST, address="10.9.8.5")
    with pytest.raises(errors.Conflict, match="already allocated"):
        ipam.allocate(sub, "b", OWNER_HOST, address="10.9.8.1")  # the gateway
    with pytest.raises(errors.ValidationFailure, match="not in subnet"):
        ipam.allocate(sub, "b", OWNER_HOST, address="10.9.9.5")
    with pytest.raises(errors.ValidationFailure, match="reserved"):
        ipam.allocate(sub, "b", OWNER_HOST, address="10.9.8.3")
    with pytest.raises(errors.ValidationFailure, match="broadcast"):
        ipam.allocate(sub, "b", OWNER_HOST, address="10.9.8.7")
    with pytest.raises(errors.NotFound):
        ipam.allocate(str(uuid.uuid4()), "b", OWNER_HOST)
    with db.session() as session:  # none of the refusals left a row behind
        assert session.scalar(select(func.count()).select_from(Port)) == 1


def test_ipam_reallocation_is_idempotent_per_device_owner_and_subnet(small: tuple[cfg.ConfigOpts, Database]) -> None:
    _, db = small
    ipam = Ipam(db)
    first = ipam.allocate(subnet_id("small-subnet"), "amp", OWNER_MEMBER)
    assert ipam.allocate(subnet_id("small-subnet"), "amp", OWNER_MEMBER) == first
    other_owner = ipam.allocate(subnet_id("small-subnet"), "amp", OWNER_HOST)
    other_subnet = ipam.allocate(subnet_id("other-subnet"), "amp", OWNER_MEMBER)
    assert len({first.port_id, other_owner.port_id, other_subnet.port_id}) == 3
    assert [a.port_id for a in ipam.release("amp", OWNER_MEMBER)] == [first.port_id, other_subnet.port_id]
    assert ipam.release("amp", OWNER_MEMBER) == []  # idempotent
    assert [a.port_id for a in ipam.ports("amp")] == [other_owner.port_id]


@pytest.mark.parametrize("backend", BACKENDS)
def test_ipam_concurrent_allocations_get_distinct_addresses(backend: str, tmp_path: object) -> None:
    with fresh_database(backend, str(tmp_path)) as url, seeded_database(url, SMALL) as (_, db):
        ipam = Ipam(db)
        barrier = threading.Barrier(2, timeout=30)
        results: dict[str, list[str]] = {"t0": [], "t1": []}
        failures: list[BaseException] = []

        def worker(name: str) -> None:
            try:
                barrier.wait()
                for i in range(10):
                    results[name].append(ipam.allocate(subnet_id("other-subnet"), f"{name}-{i}", OWNER_HOST).ip_address)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in results]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not failures and not any(t.is_alive() for t in threads)
        everything = results["t0"] + results["t1"]
        assert len(everything) == 20 and len(set(everything)) == 20
        assert set(everything) == {f"10.9.9.{n}" for n in range(2, 22)}  # dense: lost races were retried


def test_loopback_allocates_plugs_and_releases(small: tuple[cfg.ConfigOpts, Database], sqlite_url: str) -> None:
    conf, db = small
    driver = LoopbackNetworkDriver(conf, db)
    assert driver.accepts_unknown_subnets is False
    lb_id, amp_id = str(uuid.uuid4()), str(uuid.uuid4())

    vip = driver.allocate_vip(lb_id, subnet_id("small-subnet"), None, None, None)
    assert (vip.address, vip.subnet_id, vip.network_id) == ("10.9.8.2", subnet_id("small-subnet"), network_id("small"))
    assert driver.allocate_vip(lb_id, subnet_id("small-subnet"), None, None, None) == vip  # resumed flow

    with db.session() as session:  # the LB and amphora rows the worker would have written
        session.add(LoadBalancer(id=lb_id, provisioning_status="PENDING_CREATE", operating_status="OFFLINE",
                                 vip_subnet_id=vip.subnet_id, vip_address=vip.address, vip_port_id=vip.port_id))
        session.flush()
        session.add(Amphora(id=amp_id, load_balancer_id=lb_id, status="ALLOCATED"))

    plug = driver.plug_vip(amp_id, vip)
    assert (plug.mac_address, plug.ip_address, plug.subnet_cidr, plug.gateway) == ("", vip.address, "10.9.8.0/29",
                                                                                   "10.9.8.1")
    unknown = str(uuid.uuid4())
    members = driver.plug_member_networks(amp_id, [subnet_id("other-subnet"), unknown, subnet_id("small-subnet")])
    # the VIP subnet needs nothing more and unknown subnets are ignored
    assert [(m.mac_address, m.subnet_id, m.ip_address) for m in members] == [("", subnet_id("other-subnet"),
                                                                              "10.9.9.2")]
    assert driver.plug_member_networks(amp_id, [subnet_id("other-subnet")]) == members

    driver.unplug_vip(amp_id, vip)
    driver.release_amphora(amp_id)
    driver.release_amphora(amp_id)
    assert driver.ipam.ports(amp_id) == []
    assert driver.ipam.port(vip.port_id) is not None  # the VIP is the LB's, not the amphora's
    driver.deallocate_vip(lb_id)
    driver.deallocate_vip(lb_id)
    assert driver.ipam.port(vip.port_id) is None


def test_loopback_vip_from_network_or_address_and_refusals(small: tuple[cfg.ConfigOpts, Database]) -> None:
    conf, db = small
    driver = LoopbackNetworkDriver(conf, db)
    by_net = driver.allocate_vip(str(uuid.uuid4()), None, network_id("other"), None, None)
    assert (by_net.subnet_id, by_net.address) == (subnet_id("other-subnet"), "10.9.9.2")
    by_addr = driver.allocate_vip(str(uuid.uuid4()), None, None, None, "10.9.9.77")
    assert (by_addr.subnet_id, by_addr.address) == (subnet_id("other-subnet"), "10.9.9.77")
    with pytest.raises(errors.Conflict, match="already allocated"):
        driver.allocate_vip(str(uuid.uuid4()), subnet_id("other-subnet"), None, None, "10.9.9.77")
    with pytest.raises(errors.ValidationFailure):
        driver.allocate_vip(str(uuid.uuid4()), subnet_id("other-subnet"), None, None, "10.9.8.4")
    with pytest.raises(errors.ValidationFailure, match="not on network"):
        driver.allocate_vip(str(uuid.uuid4()), subnet_id("other-subnet"), network_id("small"), None, None)
    # A port someone else holds cannot become a VIP; the VIP port of another LB is refused.
    with pytest.raises(errors.Conflict, match="already in use"):
        driver.allocate_vip(str(uuid.uuid4()), None, None, by_addr.port_id, None)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Port).where(Port.device_owner == OWNER_VIP)) == 2


def test_loopback_additional_vips_on_the_vip_network(sqlite_url: str) -> None:
    specs = ["pub:pub-subnet:10.9.8.0/29", "pub:pub-extra-subnet:10.9.10.0/24", "other:other-subnet:10.9.9.0/24"]
    with seeded_database(sqlite_url, specs) as (conf, db):
        driver = LoopbackNetworkDriver(conf, db)
        lb_id = str(uuid.uuid4())
        vip = driver.allocate_vip(lb_id, subnet_id("pub-subnet"), None, None, None)
        (extra,) = driver.allocate_additional_vips(lb_id, vip.network_id, [(subnet_id("pub-extra-subnet"), None)])
        assert (extra.subnet_id, extra.network_id, extra.address) == (subnet_id("pub-extra-subnet"),
                                                                      network_id("pub"), "10.9.10.2")
        # A resumed flow gets the same addresses back: the VIP is not mistaken for the additional one.
        assert driver.allocate_additional_vips(lb_id, vip.network_id, [(subnet_id("pub-extra-subnet"), None)]) == [
            extra]
        assert driver.allocate_vip(lb_id, subnet_id("pub-subnet"), None, None, None) == vip
        other_lb = str(uuid.uuid4())
        driver.allocate_vip(other_lb, subnet_id("pub-subnet"), None, None, None)
        (asked,) = driver.allocate_additional_vips(other_lb, vip.network_id,
                                                   [(subnet_id("pub-extra-subnet"), "10.9.10.50")])
        assert asked.address == "10.9.10.50"
        with pytest.raises(errors.Conflict, match="already allocated"):
            driver.allocate_additional_vips(str(uuid.uuid4()), vip.network_id,
                                            [(subnet_id("pub-extra-subnet"), "10.9.10.50")])
        with pytest.raises(errors.ValidationFailure, match="All VIP subnets must belong to the same network"):
            driver.allocate_additional_vips(str(uuid.uuid4()), vip.network_id, [(subnet_id("other-subnet"), None)])
        driver.deallocate_vip(lb_id)  # the additional VIP goes with the VIP
        assert driver.ipam.ports(lb_id) == []
