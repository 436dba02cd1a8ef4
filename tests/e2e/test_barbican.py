"""Barbican refs (issue 5 item 4): a real Barbican and Keystone, an Ostia with `cert_manager =
barbican_cert_manager` in keystone mode. The caller's token shares the ref with Ostia's service user (Octavia's
barbican_acl); a ref the caller's project may not read, or no ref at all, is Octavia's 400."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ostia import conf as ostia_conf
from ostia.drivers.cert_manager.barbican import BarbicanCertManager
from tests.support import barbican as barbican_support
from tests.support import tls_secrets

pytestmark = [pytest.mark.e2e, pytest.mark.keystone]

LBS = "/v2/lbaas/loadbalancers"
LISTENERS = "/v2/lbaas/listeners"
PUBLIC_SUBNET = "d05a7bde-cca3-5925-ad49-7a8b3df07363"
PASSPHRASE = b"container-key-passphrase"


def not_retrievable(*refs: str) -> str:
    return f"Could not retrieve certificate: {list(refs)!r}"


def store_container(bb: Any, leaf: tls_secrets.Issued, ca: tls_secrets.Issued) -> str:
    """A Barbican certificate container: certificate, encrypted key, its passphrase, the chain."""
    def secret(name: str, payload: bytes) -> Any:
        return bb.secrets.create(name=name, payload=payload.decode())

    container = bb.containers.create_certificate(
        name="site", certificate=secret("cert", leaf.cert_pem()), private_key=secret("key", leaf.key_pem(PASSPHRASE)),
        private_key_passphrase=secret("pass", PASSPHRASE), intermediates=secret("chain", ca.cert_pem()))
    return str(container.store())


def store_pkcs12(bb: Any, leaf: tls_secrets.Issued, ca: tls_secrets.Issued) -> str:
    """Octavia's own format: one secret holding a PKCS#12 bundle without passphrase."""
    p12 = pkcs12.serialize_key_and_certificates(b"sni", leaf.key, leaf.cert, [ca.cert],
                                                serialization.NoEncryption())
    return str(bb.secrets.create(name="p12", payload=p12).store())


def readers(bb: Any, ref: str) -> list[str]:
    """The user ids on a secret's or container's read ACL."""
    acl = bb.acls.get(ref).get("read")
    return list(acl.users or []) if acl else []


def wait_active(client: httpx.Client, lb_id: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get(f"{LBS}/{lb_id}").json()["loadbalancer"]["provisioning_status"] == "ACTIVE":
            return
        time.sleep(0.1)
    raise AssertionError(f"{lb_id} never became ACTIVE")


def make_lb(client: httpx.Client) -> str:
    resp = client.post(LBS, json={"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET, "name": "bb"}})
    assert resp.status_code == 201, resp.text
    lb_id = str(resp.json()["loadbalancer"]["id"])
    wait_active(client, lb_id)
    return lb_id


@pytest.fixture(scope="module")
def lbs(barbican: barbican_support.BarbicanCloud) -> dict[str, dict[str, Any]]:
    """One load balancer (a real amphora) per user, shared by the tests; `ostia up`'s teardown removes them."""
    found = {}
    for user in ("tls_a", "tls_b"):
        with barbican.ostia(user) as client:
            lb_id = make_lb(client)
            found[user] = client.get(f"{LBS}/{lb_id}").json()["loadbalancer"]
    return found


def served_certificate(vip: str, port: int, server_name: str) -> bytes:
    """The certificate HAProxy presents on the VIP for `server_name` (SNI), as PEM."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((vip, port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def https(lb_id: str, port: int, **refs: Any) -> dict[str, Any]:
    return {"listener": {"loadbalancer_id": lb_id, "protocol": "TERMINATED_HTTPS", "protocol_port": port, **refs}}


@pytest.fixture(scope="module")
def controller_certs(barbican: barbican_support.BarbicanCloud, tmp_path_factory: pytest.TempPathFactory,
                     ) -> Iterator[BarbicanCertManager]:
    """The cert manager the controller builds from the same configuration (reads as Ostia's service user)."""
    path = Path(tmp_path_factory.mktemp("bb-conf")) / "ostia.conf"
    path.write_text(barbican.ostia_conf())
    manager = BarbicanCertManager(ostia_conf.load([str(path)]))
    yield manager
    manager.close()


def test_project_a_terminates_tls_with_its_barbican_container_and_pkcs12_secret(
        barbican: barbican_support.BarbicanCloud, controller_certs: BarbicanCertManager,
        lbs: dict[str, dict[str, Any]]) -> None:
    ca = tls_secrets.issue("bb-ca", ca=True)
    leaf, sni = tls_secrets.issue("www.bb.example", ca), tls_secrets.issue("sni.bb.example", ca)
    bb = barbican.client("tls_a")
    container_ref, p12_ref = store_container(bb, leaf, ca), store_pkcs12(bb, sni, ca)
    # Before the listener, Ostia's service user cannot read them: access comes only from the caller's grant.
    with pytest.raises(Exception, match="Could not retrieve certificate"):
        controller_certs.get(container_ref, None)

    lb = lbs["tls_a"]
    with barbican.ostia("tls_a") as client:
        lb_id = lb["id"]
        resp = client.post(LISTENERS, json=https(lb_id, 443, default_tls_container_ref=container_ref,
                                                 sni_container_refs=[p12_ref]))
        assert resp.status_code == 201, resp.text
        listener = resp.json()["listener"]
        assert listener["default_tls_container_ref"] == container_ref
        assert listener["sni_container_refs"] == [p12_ref]
        wait_active(client, lb_id)

    # The service user is now on each secret's read ACL (set with tls_a's token), and the controller loads
    # exactly the certificate tls_a stored, its key decrypted with the container's passphrase, and the chain.
    service_user = controller_certs.service_user_id()
    for ref in (container_ref, p12_ref, *(s.secret_ref for s in bb.containers.get(container_ref).secrets.values())):
        assert readers(bb, ref) == [service_user], ref
    served = controller_certs.get(container_ref, barbican.projects["project_a"])
    assert served.certificate == leaf.cert_pem()
    assert served.intermediates == ca.cert_pem()
    assert served.private_key == leaf.key_pem()
    sni_bundle = controller_certs.get(p12_ref, None)
    assert (sni_bundle.certificate, sni_bundle.private_key) == (sni.cert_pem(), sni.key_pem())
    # The amphora's HAProxy serves them: the container's certificate by default, the PKCS#12 one for its name.
    assert served_certificate(lb["vip_address"], 443, "www.bb.example") == leaf.cert_pem()
    assert served_certificate(lb["vip_address"], 443, "sni.bb.example") == sni.cert_pem()


def test_foreign_and_bogus_refs_are_octavias_400_and_create_nothing(
        barbican: barbican_support.BarbicanCloud, lbs: dict[str, dict[str, Any]]) -> None:
    ca = tls_secrets.issue("bb-ca2", ca=True)
    foreign = store_container(barbican.client("tls_a"), tls_secrets.issue("a.bb.example", ca), ca)
    bogus = f"{barbican.url}/v1/containers/{uuid.uuid4()}"
    with barbican.ostia("tls_b") as client:
        lb_id = lbs["tls_b"]["id"]
        for refs, bad in (({"default_tls_container_ref": foreign}, [foreign]),
                          ({"default_tls_container_ref": bogus}, [bogus]),
                          # as in Octavia, SNI refs are checked (and listed) before the default one
                          ({"default_tls_container_ref": "not-a-ref", "sni_container_refs": [foreign]},
                           [foreign, "not-a-ref"])):
            resp = client.post(LISTENERS, json=https(lb_id, 8443, **refs))
            assert resp.status_code == 400, resp.text
            assert resp.json()["faultstring"] == not_retrievable(*bad)
        assert client.get(LISTENERS, params={"loadbalancer_id": lb_id}).json()["listeners"] == []
        lb = client.get(f"{LBS}/{lb_id}").json()["loadbalancer"]
        assert (lb["provisioning_status"], lb["listeners"]) == ("ACTIVE", [])
    # project_b's attempt did not share project_a's secret with anyone.
    assert readers(barbican.client("tls_a"), foreign) == []


def test_local_refs_keep_resolving_beside_barbican(barbican: barbican_support.BarbicanCloud,
                                                   lbs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    leaf = tls_secrets.issue("local.bb.example")
    bundle = tmp_path / "local.pem"
    bundle.write_bytes(leaf.cert_pem() + leaf.key_pem())
    made = subprocess.run([str(Path(sys.executable).parent / "ostia"), "--state-dir", str(barbican.ostia_state),
                           "secret", "create", "--project", barbican.projects["project_a"], str(bundle)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    local_ref = made.stdout.strip()
    assert local_ref.startswith("ostia://secrets/")
    with barbican.ostia("tls_a") as client:
        resp = client.post(LISTENERS, json=https(lbs["tls_a"]["id"], 444, default_tls_container_ref=local_ref))
        assert resp.status_code == 201, resp.text
        wait_active(client, lbs["tls_a"]["id"])
    assert served_certificate(lbs["tls_a"]["vip_address"], 444, "local.bb.example") == leaf.cert_pem()
    # ... and stays the project's own: project_b cannot use it either.
    with barbican.ostia("tls_b") as client:
        resp = client.post(LISTENERS, json=https(lbs["tls_b"]["id"], 444, default_tls_container_ref=local_ref))
        assert (resp.status_code, resp.json()["faultstring"]) == (400, not_retrievable(local_ref))
