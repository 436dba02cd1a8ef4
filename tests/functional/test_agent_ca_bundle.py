"""PUT /1.0/ca_bundle on a real agent: bad bundles are refused, a new bundle decides which client certificates
are accepted from the next handshake on (a CA can be added, then the old one dropped), and the caller's own
connection survives the swap. PUT /1.0/certificate refuses what OpenSSL cannot load the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ostia.drivers.certificates.local_ca import LocalCertificateDriver
from ostia.drivers.certificates.tls import client_context
from tests.support.agent import Agent, running_agent


@pytest.fixture
def agent(workdir: Path) -> Iterator[Agent]:
    with running_agent(workdir) as running:
        yield running


def answers(agent: Agent, cert: Path, key: Path, sni: bool = True) -> bool:
    # A whole request: TLS 1.3 reports a refused client certificate on the first read, not in the handshake.
    try:
        ctx = client_context(cert, key, agent.workdir / "server-ca.pem")  # ca.pem is what the test replaces
        ctx.check_hostname = sni  # without SNI the name cannot be checked; the chain still is
        with httpx.Client(verify=ctx, timeout=10) as client:
            ext = {"sni_hostname": agent.amphora_id} if sni else {}
            return client.get(f"{agent.url}/", extensions=ext).status_code == 200
    except httpx.TransportError:
        return False


def test_ca_bundle_adds_then_drops_a_ca_for_new_connections(agent: Agent, workdir: Path) -> None:
    (workdir / "server-ca.pem").write_bytes(agent.ca.ca_bundle())
    new_ca = LocalCertificateDriver(workdir / "new-ca", "pass")
    issued = new_ca.issue_client_cert("ostia-controller")
    (workdir / "new.pem").write_bytes(issued.cert_pem)
    (workdir / "new.key").write_bytes(issued.key_pem)
    old = (workdir / "client.pem", workdir / "client.key")
    new = (workdir / "new.pem", workdir / "new.key")
    assert answers(agent, *old) and not answers(agent, *new)

    # The last one is PEM-shaped, so only OpenSSL (in the staging directory) can refuse it.
    corrupt = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    for bad in (b"", b"garbage", agent.ca.ca_bundle() + issued.key_pem, corrupt):
        r = agent.put("/1.0/ca_bundle", content=bad)
        assert r.status_code == 400 and r.json()["message"] == "Invalid CA bundle", bad
    assert answers(agent, *old)  # a refused bundle changed nothing

    assert agent.put("/1.0/ca_bundle", content=agent.ca.ca_bundle() + new_ca.ca_bundle()).status_code == 202
    assert answers(agent, *old) and answers(agent, *new)
    # The bundle replaces the CA file the agent loads at its next start, still private.
    assert (workdir / "ca.pem").read_bytes() == agent.ca.ca_bundle() + new_ca.ca_bundle()
    assert (workdir / "ca.pem").stat().st_mode & 0o777 == 0o600

    assert agent.put("/1.0/ca_bundle", content=new_ca.ca_bundle()).status_code == 202
    assert not answers(agent, *old) and answers(agent, *new)
    # The swap happens in the SNI callback, which OpenSSL runs for a client sending no SNI as well.
    assert not answers(agent, *old, sni=False) and answers(agent, *new, sni=False)
    assert agent.get("/").status_code == 200  # the connection that made the swap is still served


def test_certificate_openssl_refuses_changes_nothing(agent: Agent, workdir: Path) -> None:
    served = (workdir / "server.pem").read_bytes()
    other = agent.ca.issue_server_cert("other")
    mine = agent.ca.issue_server_cert(agent.amphora_id)
    r = agent.put("/1.0/certificate", content=mine.cert_pem + other.key_pem)  # well-formed, but not a pair
    assert r.status_code == 400 and r.json()["message"] == "Invalid certificate"
    assert "KEY_VALUES_MISMATCH" in r.json()["details"]
    assert (workdir / "server.pem").read_bytes() == served
    assert not [p for p in agent.base_path.iterdir() if p.name.startswith("tmp")]  # staging removed
