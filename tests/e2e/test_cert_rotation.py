"""Certificate rotation on real amphorae (`ostia up`, loopback network, local compute, real agents and HAProxy):
an amphora's server certificate is replaced under HTTP load without a failed request, and the CA itself is
replaced with every amphora reachable throughout, no failover, and the old CA refused once its grace is over.

Rotation runs as an operator (or housekeeping) would: `ostia ca advance` / `ostia ca rotate` in their own
processes against the state directory of the running `ostia up`, whose controller must follow on its own.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from ostia.conf.certificates import DEV_CA_PASSPHRASE
from ostia.drivers.certificates.local_ca import LocalCertificateDriver
from ostia.drivers.certificates.tls import ControllerTls, client_context
from tests.e2e.conftest import OSTIA, OstiaServer, ostia_up
from tests.functional.udp_support import udp_port
from tests.support.backends import Member, request
from tests.support.failover import allocated_amphorae, create_http_lb, subnet_ids, timeline

PROJECT = "p-certs"
AGENT_PORT = 9443  # [haproxy_amphora] bind_port: each amphora's agent on its own 127.x address
GRACE = 2.0


@pytest.fixture(scope="module")
def net() -> int:
    return random.randrange(100, 250)


@pytest.fixture(scope="module")
def settings(net: int) -> list[str]:
    return [f"networking.networks=public:public-subnet:127.{net}.1.0/24,private:private-subnet:127.{net}.2.0/24",
            f"local_compute.mgmt_cidr=127.{net}.3.0/24", "house_keeping.spare_amphora_pool_size=0",
            f"health_manager.bind_port={udp_port('127.0.0.1')}"]


@pytest.fixture(scope="module")
def server(settings: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[OstiaServer]:
    with ostia_up(tmp_path_factory.mktemp("ostia-certs"), *settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def lbs(server: OstiaServer, net: int) -> Iterator[list[dict[str, Any]]]:
    """Two SINGLE load balancers (one amphora each) over two real members."""
    members = [Member(name, f"127.{net}.2.{10 + i}") for i, name in enumerate(("m1", "m2"))]
    subnets = subnet_ids(server)
    try:
        yield [create_http_lb(server, subnets, members, PROJECT, f"certs-{i}") for i in range(2)]
    finally:
        for m in members:
            m.stop()


def ca(server: OstiaServer) -> LocalCertificateDriver:
    return LocalCertificateDriver(server.state_dir / "ca", DEV_CA_PASSPHRASE)


def ostia_ca(server: OstiaServer, settings: list[str], *args: str) -> str:
    argv = [str(OSTIA), "--state-dir", str(server.state_dir)]
    for item in settings:
        argv += ["--set", item]
    done = subprocess.run([*argv, "ca", *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"ostia ca {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def amphorae(server: OstiaServer, lbs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [amp for lb in lbs for amp in allocated_amphorae(server, lb["id"])]


def served_certificate(amp: dict[str, Any], tls: ControllerTls) -> x509.Certificate:
    """The certificate the agent presents (read from a TLS handshake, checked as the controller checks it)."""
    ctx = tls.refresh() or client_context(*tls.certs.client_cert_files(), tls.certs.trust_file())
    with socket.create_connection((amp["lb_network_ip"], AGENT_PORT), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=amp["id"]) as conn:
        der = conn.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def agent_answers(amp: dict[str, Any], cert: Path, key: Path, trust: Path) -> bool:
    """Whether the agent serves a request made with this client certificate (TLS 1.3 reports a refused client
    certificate only on the first read, hence a whole request, not just a handshake)."""
    try:
        with httpx.Client(verify=client_context(cert, key, trust), timeout=10) as client:
            return client.get(f"https://{amp['lb_network_ip']}:{AGENT_PORT}/1.0/info",
                              extensions={"sni_hostname": amp["id"]}).status_code == 200
    except httpx.TransportError:
        return False


class Loop:
    """Runs `round()` again and again in a thread while the `with` block lasts (bounded in time)."""

    limit = 60.0

    def __init__(self) -> None:
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Loop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.limit + 10)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.round()

    def round(self) -> None:
        raise NotImplementedError


class Load(Loop):
    """Requests through the VIPs, one after another, each on a fresh connection."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__()
        self.urls = urls

    def round(self) -> None:
        for url in self.urls:
            try:
                reply = request(url, timeout=5)
            except httpx.HTTPError as exc:
                self.failed.append(f"{url}: {exc!r}")
                continue
            if reply.status == 200 and reply.member:
                self.ok += 1
            else:
                self.failed.append(f"{url}: {reply.status}")


class Reachability(Loop):
    """The controller's view during a CA rotation: every agent called in turn with the controller's own client
    context (rebuilt as the CA and the client certificate change, as the amphora driver does)."""

    def __init__(self, amps: list[dict[str, Any]], tls: ControllerTls) -> None:
        super().__init__()
        self.amps, self.tls = amps, tls
        self.client: httpx.Client | None = None

    def round(self) -> None:
        fresh = self.tls.refresh()
        if fresh is not None:
            self.client = httpx.Client(verify=fresh, timeout=10)
        assert self.client is not None
        for amp in self.amps:
            try:
                status = self.client.get(f"https://{amp['lb_network_ip']}:{AGENT_PORT}/1.0/info",
                                         extensions={"sni_hostname": amp["id"]}).status_code
            except httpx.TransportError as exc:
                self.failed.append(f"{amp['id']}: {exc!r}")
                continue
            if status == 200:
                self.ok += 1
            else:
                self.failed.append(f"{amp['id']}: {status}")
        time.sleep(0.02)


def test_amphora_certificate_rotation_under_load_loses_no_request(server: OstiaServer, settings: list[str],
                                                                   lbs: list[dict[str, Any]]) -> None:
    tls = ControllerTls(ca(server))
    amps = amphorae(server, lbs)
    assert len(amps) == 2
    served = {a["id"]: served_certificate(a, tls) for a in amps}
    before = {amp_id: cert.serial_number for amp_id, cert in served.items()}
    for amp in amps:  # the build recorded the first certificate's expiry, so housekeeping knows when it is due
        assert amp["cert_expiration"] == served[amp["id"]].not_valid_after_utc.replace(tzinfo=None).isoformat()
    urls = [f"http://{lb['vip_address']}:8080/" for lb in lbs]
    # Certificates are valid 30 days: a buffer of 31 makes every amphora's certificate due now.
    due = [*settings, f"house_keeping.cert_expiry_buffer={31 * 86400}"]
    with Load(urls) as load:
        time.sleep(0.5)
        out = ostia_ca(server, due, "advance")
        time.sleep(0.5)
    print(f"\nserver certificate rotation of {len(amps)} amphorae under load: {load.ok} requests, "
          f"{len(load.failed)} failed; {out.splitlines()[0]}")
    assert load.failed == [] and load.ok > 20
    assert out.startswith("2 amphora server certificates rotated"), out
    for amp in amphorae(server, lbs):
        cert = served_certificate(amp, tls)
        assert cert.serial_number != before[amp["id"]]
        # The database records the expiry of the certificate the agent really serves.
        assert amp["cert_expiration"] == cert.not_valid_after_utc.replace(tzinfo=None).isoformat(), amp
        assert amp["cert_busy"] is False


def test_ca_rotation_keeps_every_amphora_reachable_and_drops_the_old_ca_after_the_grace(
        server: OstiaServer, settings: list[str], lbs: list[dict[str, Any]], tmp_path: Path) -> None:
    certs = ca(server)
    tls = ControllerTls(certs)
    amps = amphorae(server, lbs)
    ids_before = sorted(a["id"] for a in amps)
    old_cert, old_key = certs.client_cert_files()
    shutil.copy(old_cert, tmp_path / "old.pem")
    shutil.copy(old_key, tmp_path / "old.key")
    old_issuer = x509.load_pem_x509_certificate(old_cert.read_bytes()).issuer
    urls = [f"http://{lb['vip_address']}:8080/" for lb in lbs]

    with Load(urls) as load, Reachability(amps, tls) as reach:
        time.sleep(0.3)
        started = time.monotonic()
        out = ostia_ca(server, settings, "rotate", "--grace", str(GRACE))
        took = time.monotonic() - started
        time.sleep(0.3)
    print(f"\nCA rotation of {len(amps)} amphorae: `ostia ca rotate` {took:.2f}s ({out.splitlines()[0]}); "
          f"controller calls {reach.ok} ok / {len(reach.failed)} failed; traffic {load.ok} ok / "
          f"{len(load.failed)} failed")
    assert reach.failed == [] and reach.ok >= 2 * len(amps)
    assert load.failed == []
    assert "2 amphorae updated" in out and "phase grace" in out, out
    state = certs.rotation_state()
    assert state["phase"] == "grace" and state["generation"] == 2
    for amp in amps:  # new server certificates from the new CA; the old client certificate still works
        assert served_certificate(amp, tls).issuer != old_issuer
        assert agent_answers(amp, tmp_path / "old.pem", tmp_path / "old.key", certs.trust_file())
    new_cert, new_key = certs.client_cert_files()
    assert x509.load_pem_x509_certificate(new_cert.read_bytes()).issuer != old_issuer

    # Once the grace period is over, a housekeeping pass drops the old CA everywhere.
    until = dt.datetime.fromisoformat(state["grace_until"])
    time.sleep(min(GRACE, max(0.0, (until - dt.datetime.now(dt.UTC)).total_seconds() + 0.1)))
    out = ostia_ca(server, settings, "advance")
    # Certificates fresh from the rotation are not due with the default 14-day buffer.
    assert out.startswith("0 amphora server certificates rotated") and "rotation phase none" in out, out
    assert len(certs.ca_bundle().split(b"-----END CERTIFICATE-----")) == 2  # one CA left
    for amp in amps:
        assert not agent_answers(amp, tmp_path / "old.pem", tmp_path / "old.key", certs.trust_file())
        assert agent_answers(amp, new_cert, new_key, certs.trust_file())

    # The running controller followed on its own: it still configures the amphorae (a listener update is
    # pushed through the agents), and no amphora was failed over or replaced.
    listener_id = server.get_json(f"/v2/lbaas/loadbalancers/{lbs[0]['id']}")["loadbalancer"]["listeners"][0]["id"]
    status, reply = server.http("PUT", f"/v2/lbaas/listeners/{listener_id}",
                                {"listener": {"connection_limit": 5000}}, project=PROJECT)
    assert status == 200, reply
    server.wait_lb(lbs[0]["id"])
    assert request(urls[0]).status == 200
    assert sorted(a["id"] for a in amphorae(server, lbs)) == ids_before
    assert all(timeline(server, lb["id"]) == [] for lb in lbs)
