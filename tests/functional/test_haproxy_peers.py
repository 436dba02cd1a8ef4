"""ACTIVE_STANDBY stick-table synchronisation through an HAProxy `peers` section (internals §6.1, §4.3).

The rendered config lists both amphorae as peers (Octavia's peer names, VRRP address, port 1025) and every
SOURCE_IP / APP_COOKIE stick table refers to the section; SINGLE renders none. `haproxy -c -L <own name>`
accepts it. The real test runs two HAProxy processes through the agent's HaproxyManager (which adds
`-L <own peer name>`) in two namespaces joined by a veth pair: a client stuck to a member on the first one shows
in the second one's `show table` and is sent to the same member by it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from ostia.agent import procs
from ostia.agent.haproxy import HaproxyManager
from ostia.agent.settings import AgentSettings
from ostia.db.engine import Database, make_engine
from ostia.db.migrate import upgrade
from ostia.db.models import Amphora, LoadBalancer
from ostia.db.to_spec import load_balancer_spec
from ostia.domain.peers import PEER_PORT, peer_name, peers_section
from ostia.domain.spec import (
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PeerSpec,
    PoolSpec,
    RenderSettings,
    SessionPersistenceSpec,
)
from ostia.netns import run_in
from ostia.render.haproxy import render_haproxy
from tests.support.agent import short_tmpdir
from tests.support.backends import Member, wait_for

HAPROXY = shutil.which("haproxy")
LB_ID = "5e1f0b2c-7d4a-4c1e-9a57-3b2f8f0d6a11"
AMPS = ("0f4b6c3e-2a1d-4e5f-8b7a-9c0d1e2f3a4b", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")
VRRP_IPS = ("198.18.7.11", "198.18.7.12")
SECTION = "5e1f0b2c7d4a4c1e9a573b2f8f0d6a11_peers"
CLIENT_SOURCE = "127.0.0.77"  # the key the stick entry is stored under (::ffff:127.0.0.77 in an ipv6 table)


def _spec(settings: RenderSettings, peers: bool = True, members: tuple[tuple[str, int], ...] = (("127.0.0.1", 9000),),
          port: int = 8080) -> LoadBalancerSpec:
    listeners = (ListenerSpec(id="listener-tcp", protocol="TCP", protocol_port=port, default_pool_id="pool-src"),
                 ListenerSpec(id="listener-http", protocol="HTTP", protocol_port=port + 1,
                              default_pool_id="pool-cookie"))
    servers = tuple(MemberSpec(id=f"member-{n}", address=a, protocol_port=p) for n, (a, p) in enumerate(members, 1))
    pools = (PoolSpec(id="pool-src", protocol="TCP", lb_algorithm="ROUND_ROBIN", members=servers,
                      session_persistence=SessionPersistenceSpec(type="SOURCE_IP")),
             PoolSpec(id="pool-cookie", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=servers,
                      session_persistence=SessionPersistenceSpec(type="APP_COOKIE", cookie_name="sid")))
    peer_specs = tuple(PeerSpec(name=peer_name(a), address=ip) for a, ip in zip(AMPS, VRRP_IPS, strict=True))
    return LoadBalancerSpec(id=LB_ID, project_id="p", vip_addresses=("127.0.0.1",), listeners=listeners,
                            pools=pools, settings=settings, peers=peer_specs if peers else ())


def _settings(base: Path) -> RenderSettings:
    return RenderSettings(base_dir=str(base), cert_dir=str(base / "certs"), log_target=None, user=None,
                          server_state_file=False, ping_wrapper=str(base / "ping-wrapper.sh"))


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = short_tmpdir()  # the stats socket path in the config must stay under HAProxy's 97 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_peer_names_are_octavias() -> None:
    # Known answers: base64 (altchars _-) of sha1(id) without '=', as Octavia's agent and template compute it;
    # the second id's encoding starts with '-', which Octavia turns into 'x'
    # (computed with `printf %s <id> | openssl dgst -sha1 -binary | base64 | tr '+/' '_-' | tr -d =`)
    assert peer_name("0f4b6c3e-2a1d-4e5f-8b7a-9c0d1e2f3a4b") == "63CpjJ-BtX3VQPiiOBl4Wr8l-7U"
    assert peer_name("amphora-5") == "xPpKAXOoZKcGwWqOxr7FXpssC9M"
    assert peers_section(LB_ID) == SECTION


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")
def test_active_standby_config_has_peers_and_passes_haproxy_check(short_dir: Path) -> None:
    text = render_haproxy(_spec(_settings(short_dir)))
    names = [peer_name(a) for a in AMPS]
    assert f"\npeers {SECTION}\n    peer {names[0]} 198.18.7.11:{PEER_PORT}\n" \
           f"    peer {names[1]} 198.18.7.12:{PEER_PORT}\n" in text
    assert f"    stick-table type ipv6 size 10k peers {SECTION}\n    stick on src\n" in text
    assert f"    stick-table type string len 64 size 10k peers {SECTION}\n    stick store-response" in text
    cfg = short_dir / "haproxy.cfg"
    cfg.write_text(text)
    for own in names:  # each amphora checks the same file as itself; -dW: no warning either
        res = subprocess.run([str(HAPROXY), "-c", "-dW", "-f", str(cfg), "-L", own], capture_output=True,
                             text=True, timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr
    # Checked as a host that is no peer, HAProxy drops the section with a warning: what -L prevents.
    res = subprocess.run([str(HAPROXY), "-c", "-dW", "-f", str(cfg), "-L", "not-a-peer"], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode != 0 and "Removing incomplete section" in res.stdout + res.stderr


def test_single_config_has_no_peers(tmp_path: Path) -> None:
    text = render_haproxy(_spec(_settings(tmp_path), peers=False))
    assert "peers" not in text and "peer " not in text
    assert "    stick-table type ipv6 size 10k\n    stick on src\n" in text


def test_spec_lists_allocated_amphorae_of_active_standby_only(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    db = Database(engine)
    with db.session() as session:
        lb = LoadBalancer(id=LB_ID, project_id="p", provisioning_status="ACTIVE", operating_status="ONLINE",
                          vip_address="198.18.7.10", topology="ACTIVE_STANDBY")
        session.add(lb)
        session.flush()
        # Out of id order on purpose, plus one being deleted and one without a VRRP address yet.
        session.add_all([
            Amphora(id=AMPS[1], load_balancer_id=LB_ID, status="ALLOCATED", role="BACKUP", vrrp_ip=VRRP_IPS[1]),
            Amphora(id=AMPS[0], load_balancer_id=LB_ID, status="ALLOCATED", role="MASTER", vrrp_ip=VRRP_IPS[0]),
            Amphora(id=str(uuid.uuid4()), load_balancer_id=LB_ID, status="DELETED", vrrp_ip="198.18.7.13"),
            Amphora(id=str(uuid.uuid4()), load_balancer_id=LB_ID, status="ALLOCATED", vrrp_ip=None)])
    with db.session() as session:
        spec = load_balancer_spec(session, LB_ID, RenderSettings())
    assert spec.peers == (PeerSpec(peer_name(AMPS[0]), VRRP_IPS[0]), PeerSpec(peer_name(AMPS[1]), VRRP_IPS[1]))
    with db.session() as session:
        session.execute(update(LoadBalancer).where(LoadBalancer.id == LB_ID).values(topology="SINGLE"))
    with db.session() as session:
        assert load_balancer_spec(session, LB_ID, RenderSettings()).peers == ()


# -- two real HAProxy processes ------------------------------------------------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def amphora_namespaces() -> Iterator[tuple[str, str]]:
    """Two namespaces, each with lo up (the VIP is 127.0.0.1 in both) and one end of a veth pair (VRRP address)."""
    prefix = f"ostiat{uuid.uuid4().hex[:6]}"
    names = (f"{prefix}a", f"{prefix}b")
    try:
        for ns in names:
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", names[0], "link", "add", "eth1", "type", "veth", "peer", "name", "eth1", "netns", names[1])
        for ns, vrrp in zip(names, VRRP_IPS, strict=True):
            _ip("-n", ns, "addr", "add", f"{vrrp}/24", "dev", "eth1")
            _ip("-n", ns, "link", "set", "eth1", "up")
        yield names
    finally:
        for ns in names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)


def _connect_from(source: str, port: int) -> bytes:
    """One HTTP request through the TCP listener from `source` (runs inside the amphora namespace)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        return sock.recv(4096)


def _table(manager: HaproxyManager, backend: str) -> str:
    return procs.unix_command(manager.stats_socket(LB_ID), f"show table {backend}")


@pytest.mark.skipif(os.geteuid() != 0 or HAPROXY is None, reason="network namespaces need root, and haproxy")
def test_source_ip_stick_entry_reaches_the_other_amphora(amphora_namespaces: tuple[str, str]) -> None:
    """A client stuck to member-2 on the active amphora is still sent to member-2 by the standby, whose own
    round robin would pick member-1 for its first connection."""
    managers: list[HaproxyManager] = []
    # Both members in the first namespace on its VRRP address, so the standby reaches them over the veth.
    members = [Member(f"member-{n}", VRRP_IPS[0], netns=amphora_namespaces[0]) for n in (1, 2)]
    try:
        for amp, ns in zip(AMPS, amphora_namespaces, strict=True):
            base = short_tmpdir()
            settings = AgentSettings(amphora_id=amp, base_path=base, server_cert=Path(), server_key=Path(),
                                     server_ca=Path(), network_namespace=ns, topology="ACTIVE_STANDBY")
            manager = HaproxyManager(settings)
            managers.append(manager)
            # Rendered per amphora with its own paths, as the amphora driver does; the same peers on both.
            spec = _spec(_settings(base), members=tuple((m.address, m.port) for m in members))
            manager.put_config(LB_ID, render_haproxy(spec).encode())  # haproxy -c -L <own name>, in its namespace
            manager.start(LB_ID)
        active, standby = managers
        backend = "pool-src:listener-tcp"
        # Round robin on the active one: another client gets member-1, ours member-2.
        run_in(amphora_namespaces[0], _connect_from, "127.0.0.5", 8080)
        run_in(amphora_namespaces[0], _connect_from, CLIENT_SOURCE, 8080)
        assert [m.hits for m in members] == [1, 1]
        assert f"key=::ffff:{CLIENT_SOURCE} use=0 exp=0 server_id=2" in _table(active, backend)
        # The standby learns the entry over the peer connection (198.18.7.11:1025 <-> 198.18.7.12:1025) ...
        wait_for("the stick entry on the standby", lambda: f"key=::ffff:{CLIENT_SOURCE} use=0 exp=0 server_id=2"
                 in _table(standby, backend), timeout=10)
        # ... and serves our client from member-2 once it has the VIP (its own first pick would be member-1).
        reply = run_in(amphora_namespaces[1], _connect_from, CLIENT_SOURCE, 8080)
        assert b" 200 " in reply.split(b"\r\n", 1)[0], reply
        assert [m.hits for m in members] == [1, 2]
    finally:
        for member in members:
            member.stop()
        for manager in managers:
            manager.remove(LB_ID)
            shutil.rmtree(manager.s.base_path, ignore_errors=True)
