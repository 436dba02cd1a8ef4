"""TLS secrets (§3.7): `ostia secret create` through the real CLI, encryption at rest, refs resolved per project
at listener/pool create and update; SCTP refused by the amphora provider (501) on every DB backend."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import select

from ostia.cli import main
from ostia.db import migrate
from ostia.db.engine import make_engine
from ostia.db.models import TlsSecret
from tests.support import tls_secrets
from tests.support.controller import Api

LISTENERS = "/v2/lbaas/listeners"
POOLS = "/v2/lbaas/pools"
OSTIA = os.path.join(os.path.dirname(sys.executable), "ostia")
SCTP_LISTENER = ("Provider 'amphora' does not support a requested option: Amphora provider does not support SCTP "
                 "protocol listeners.")
SCTP_POOL = "Provider 'amphora' does not support a requested option: Amphora provider does not support SCTP " \
            "protocol pools."


def fault(resp: Any) -> tuple[int, str]:
    body = resp.json()
    assert body.get("faultcode") == ("Client" if resp.status_code < 500 else "Server"), body
    return resp.status_code, body["faultstring"]


def not_retrievable(*refs: str) -> tuple[int, str]:
    return 400, f"Could not retrieve certificate: {list(refs)!r}"


def ostia_cli(db_url: str, state_dir: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OSTIA, "--state-dir", state_dir, "--set", f"database.connection={db_url}", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def https_listener(lb_id: str, **fields: Any) -> dict[str, Any]:
    return {"listener": {"loadbalancer_id": lb_id, "protocol": "TERMINATED_HTTPS", "protocol_port": 443, **fields}}


def test_cli_imports_pkcs12_and_pem_and_stores_them_encrypted(api: Api, controller: Any, db_url: str,
                                                              tmp_path: Any) -> None:
    ca = tls_secrets.issue("cli-ca", ca=True)
    leaf = tls_secrets.issue("www.example.org", ca)
    p12 = tmp_path / "site.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"site", leaf.key, leaf.cert, [ca.cert], serialization.BestAvailableEncryption(b"s3cret")))
    pem = tmp_path / "site.pem"  # chain before the leaf, key encrypted: order and passphrase are handled
    pem.write_bytes(ca.cert_pem() + leaf.cert_pem() + leaf.key_pem(b"s3cret"))

    state = str(tmp_path / "state")
    made = [ostia_cli(db_url, state, "secret", "create", "--project", "p1", "--passphrase", "s3cret", "--name",
                      name, str(path)) for name, path in (("p12", p12), ("pem", pem))]
    assert [m.returncode for m in made] == [0, 0], [m.stderr for m in made]
    refs = [m.stdout.strip() for m in made]
    assert all(r.startswith("ostia://secrets/") and len(r.splitlines()) == 1 for r in refs), refs

    # At rest: neither the key nor the certificate is readable in the row.
    key_body = leaf.key_pem().decode().splitlines()[1]
    with controller.db.session() as session:
        payloads = list(session.scalars(select(TlsSecret.payload)))
    assert len(payloads) == 2
    for payload in payloads:
        assert "PRIVATE KEY" not in payload and "CERTIFICATE" not in payload and key_body not in payload

    # Both imports give the same material: leaf, chain, key decrypted to PKCS#8 for HAProxy.
    mgr = tls_secrets.manager(controller)
    try:
        for ref in refs:
            bundle = mgr.get(ref, "p1")
            assert (bundle.certificate, bundle.intermediates, bundle.private_key) == (
                leaf.cert_pem(), ca.cert_pem(), leaf.key_pem())
            assert bundle.haproxy_pem() == leaf.cert_pem() + ca.cert_pem() + leaf.key_pem()
    finally:
        mgr.close()

    # The API accepts them for the owner's listeners.
    lb = api.create_lb()
    resp = api.post(LISTENERS, https_listener(lb["id"], default_tls_container_ref=refs[0],
                                              sni_container_refs=[refs[1]]))
    assert resp.status_code == 201, resp.text
    api.wait_lb(lb["id"])


def test_cli_refuses_wrong_passphrase_and_mismatched_key_then_lists_and_deletes(
        sqlite_url: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """CLI behaviour only (SQLite, the real parser in-process to keep it fast): the storage itself is covered on
    every backend above, through the installed `ostia` executable."""
    db_url = sqlite_url

    def ostia_cli(db_url: str, state: str, *args: str) -> subprocess.CompletedProcess[str]:
        parsed = main.parser().parse_args(["--state-dir", state, "--set", f"database.connection={db_url}", *args])
        code = parsed.func(parsed)
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    engine = make_engine(db_url)
    migrate.upgrade(engine)
    engine.dispose()
    one, two = tls_secrets.issue("one.example"), tls_secrets.issue("two.example")
    mismatched = tmp_path / "mismatch.pem"
    mismatched.write_bytes(one.cert_pem() + two.key_pem())
    p12 = tmp_path / "one.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"one", one.key, one.cert, None, serialization.BestAvailableEncryption(b"right")))
    state = str(tmp_path / "state")
    bad = ostia_cli(db_url, state, "secret", "create", str(mismatched))
    assert bad.returncode == 1 and "does not match any certificate" in bad.stderr and bad.stdout == ""
    wrong = ostia_cli(db_url, state, "secret", "create", "--passphrase", "wrong", str(p12))
    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stderr

    ca = tmp_path / "ca.pem"
    ca.write_bytes(one.cert_pem())
    ref = ostia_cli(db_url, state, "secret", "create", "--name", "clients", str(ca)).stdout.strip()
    listing = ostia_cli(db_url, state, "secret", "list").stdout.splitlines()
    assert listing[0].split() == ["ref", "project", "name", "kind", "created_at"]
    # No --project: noauth's default project, as for load balancers created without one.
    assert [line.split()[:4] for line in listing[1:]] == [[ref, "default", "clients", "ca-certificate"]]
    assert ostia_cli(db_url, state, "secret", "delete", ref).returncode == 0
    gone = ostia_cli(db_url, state, "secret", "delete", ref)
    assert gone.returncode == 1 and "no secret" in gone.stderr


def test_listener_refs_resolve_for_the_callers_project(api: Api, controller: Any) -> None:
    mine, theirs = tls_secrets.store_refs(controller, "p1"), tls_secrets.store_refs(controller, "p2")
    lb_id = api.create_lb()["id"]
    unknown = f"ostia://secrets/{uuid.uuid4()}"

    def post(**fields: Any) -> Any:
        return api.post(LISTENERS, https_listener(lb_id, **fields))

    assert fault(post(default_tls_container_ref=unknown)) == not_retrievable(unknown)
    assert fault(post(default_tls_container_ref="https://barbican/v1/containers/x")) == \
        not_retrievable("https://barbican/v1/containers/x")
    assert fault(post(default_tls_container_ref=theirs.cert)) == not_retrievable(theirs.cert)
    # A CA container has no key: it cannot be a server certificate. SNI refs are reported before the default.
    assert fault(post(default_tls_container_ref=mine.ca, sni_container_refs=[mine.cert, theirs.cert2])) == \
        not_retrievable(theirs.cert2, mine.ca)
    assert fault(post(default_tls_container_ref=mine.cert, client_ca_tls_container_ref=theirs.ca,
                      client_crl_container_ref=unknown)) == not_retrievable(theirs.ca, unknown)
    # A CRL container as client CA: resolvable, but not a certificate (the error's tail is cryptography's).
    status, message = fault(post(default_tls_container_ref=mine.cert, client_ca_tls_container_ref=mine.crl))
    assert (status, message.split(" Error: ")[0]) == (
        400, "Validation failure: The client authentication CA certificate is invalid. It must be a valid x509 "
             "PEM format certificate.")
    foreign_ca = tls_secrets.issue("other-ca", ca=True)
    foreign_crl = tls_secrets.manager(controller).store(
        tls_secrets.TlsBundle(crl=tls_secrets.crl_pem(foreign_ca)), "p1")
    assert fault(post(default_tls_container_ref=mine.cert, client_ca_tls_container_ref=mine.ca,
                      client_crl_container_ref=foreign_crl)) == (
        400, "Validation failure: The CRL specified is not valid for client certificate authority reference "
             "supplied.")
    assert api.get(f"{LISTENERS}?loadbalancer_id={lb_id}").json()["listeners"] == []

    resp = post(default_tls_container_ref=mine.cert, client_ca_tls_container_ref=mine.ca,
                client_crl_container_ref=mine.crl, client_authentication="MANDATORY")
    assert resp.status_code == 201, resp.text
    lid = resp.json()["listener"]["id"]
    api.wait_lb(lb_id)
    # Update: new refs are resolved too; the stored CA still checks a new CRL.
    assert fault(api.put(f"{LISTENERS}/{lid}", {"listener": {"sni_container_refs": [theirs.cert]}})) == \
        not_retrievable(theirs.cert)
    assert fault(api.put(f"{LISTENERS}/{lid}", {"listener": {"client_crl_container_ref": foreign_crl}}))[0] == 400
    resp = api.put(f"{LISTENERS}/{lid}", {"listener": {"default_tls_container_ref": mine.cert2,
                                                        "sni_container_refs": [mine.cert]}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["listener"]["default_tls_container_ref"] == mine.cert2
    api.wait_lb(lb_id)


def test_pool_refs_resolve_for_the_callers_project(api: Api, controller: Any) -> None:
    mine, theirs = tls_secrets.store_refs(controller, "p1"), tls_secrets.store_refs(controller, "p2")
    lb_id = api.create_lb()["id"]

    def post(**fields: Any) -> Any:
        return api.post(POOLS, {"pool": {"loadbalancer_id": lb_id, "protocol": "HTTP",
                                         "lb_algorithm": "ROUND_ROBIN", "tls_enabled": True, **fields}})

    assert fault(post(tls_container_ref=theirs.cert)) == not_retrievable(theirs.cert)
    assert fault(post(tls_container_ref=mine.ca)) == not_retrievable(mine.ca)  # no key to present to members
    assert fault(post(ca_tls_container_ref=theirs.ca, crl_container_ref=theirs.crl)) == \
        not_retrievable(theirs.ca, theirs.crl)
    resp = post(tls_container_ref=mine.cert, ca_tls_container_ref=mine.ca, crl_container_ref=mine.crl)
    assert resp.status_code == 201, resp.text
    pid = resp.json()["pool"]["id"]
    api.wait_lb(lb_id)
    assert fault(api.put(f"{POOLS}/{pid}", {"pool": {"tls_container_ref": theirs.cert}})) == \
        not_retrievable(theirs.cert)
    assert fault(api.put(f"{POOLS}/{pid}", {"pool": {"ca_tls_container_ref": theirs.ca}})) == \
        not_retrievable(theirs.ca)
    resp = api.put(f"{POOLS}/{pid}", {"pool": {"tls_container_ref": mine.cert2}})
    assert resp.status_code == 200, resp.text
    api.wait_lb(lb_id)


def test_sctp_is_refused_by_the_amphora_provider_only(api: Api, controller: Any) -> None:
    lb = api.create_lb()
    lb_id = lb["id"]
    assert fault(api.post(LISTENERS, {"listener": {"loadbalancer_id": lb_id, "protocol": "SCTP",
                                                   "protocol_port": 5000}})) == (501, SCTP_LISTENER)
    assert fault(api.post(POOLS, {"pool": {"loadbalancer_id": lb_id, "protocol": "SCTP",
                                           "lb_algorithm": "ROUND_ROBIN"}})) == (501, SCTP_POOL)
    graph: dict[str, Any] = {"loadbalancer": {"vip_subnet_id": "d05a7bde-cca3-5925-ad49-7a8b3df07363", "listeners": [
        {"protocol": "SCTP", "protocol_port": 5000, "default_pool": {"name": "p", "protocol": "SCTP",
                                                                     "lb_algorithm": "ROUND_ROBIN"}}]}}
    assert fault(api.post("/v2/lbaas/loadbalancers", graph)) == (501, SCTP_POOL)  # graph pools come first
    graph["loadbalancer"]["provider"] = "octavia"  # the alias is the amphora driver too
    assert fault(api.post("/v2/lbaas/loadbalancers", graph)) == (501, SCTP_POOL.replace("'amphora'", "'octavia'"))
    del graph["loadbalancer"]["listeners"][0]["default_pool"]
    assert fault(api.post("/v2/lbaas/loadbalancers", graph)) == (501, SCTP_LISTENER.replace("'amphora'",
                                                                                             "'octavia'"))
    # Nothing was written: the LB is still the only one, with no children, and never left ACTIVE.
    assert [x["id"] for x in api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]] == [lb_id]
    assert api.wait_lb(lb_id)["updated_at"] == lb["updated_at"]

    noop = api.create_lb(provider="noop_driver")
    resp = api.post(LISTENERS, {"listener": {"loadbalancer_id": noop["id"], "protocol": "SCTP",
                                             "protocol_port": 5000}})
    assert resp.status_code == 201, resp.text
    api.wait_lb(noop["id"])
