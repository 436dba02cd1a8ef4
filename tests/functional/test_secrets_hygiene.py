"""Secrets stay secret (issue 5 item 5): with debug logging on, a TERMINATED_HTTPS listener (default + SNI
certificates, client CA) and a re-encrypting pool (client certificate, CA) on a real amphora. No private key —
as PEM line, as one base64 DER string, or as raw DER — nor the import passphrase appears in any API answer, in
any log line, or in clear in any database column; every file holding a private key is 0600 in a 0700 directory.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import shutil
import socket
import ssl
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select

from ostia.cli import main
from ostia.drivers.compute.local import delete_all
from tests.e2e.conftest import isolation_settings
from tests.support import tls_secrets
from tests.support.agent import short_tmpdir
from tests.support.controller import Api, running_controller
from tests.support.databases import fresh_database

PROJECT = "p-hygiene"
PUBLIC_SUBNET = "d05a7bde-cca3-5925-ad49-7a8b3df07363"
PASSPHRASE = "hygiene-import-passphrase-7f3a"
REAL = {"compute_driver": "local", "network_driver": "loopback", "amphora_driver": "agent"}
PEM_KEY = b"PRIVATE KEY-----"


@dataclass
class Rig:
    state: Path
    db_url: str
    markers: dict[str, bytes]  # what must never show, by a name for the failure message
    answers: list[tuple[str, str]] = field(default_factory=list)  # (request, body) of every API call made
    log: str = ""
    cli_output: str = ""
    served: bytes = b""  # the certificate HAProxy presented on the VIP


def key_markers(name: str, key: Any) -> dict[str, bytes]:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    b64 = base64.b64encode(der)
    lines = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).splitlines()[1:-1]
    # The PEM lines, the whole base64 DER on one line (JSON and log formatting may join lines), the raw DER
    # (BLOB columns), and a chunk from the middle of the base64 (survives any line wrapping).
    found = {f"{name} PEM line {i}": line for i, line in enumerate(lines)}
    found.update({f"{name} base64 DER": b64, f"{name} DER": der, f"{name} base64 middle": b64[30:62]})
    return found


def settings(state: Path) -> dict[str, dict[str, object]]:
    groups: dict[str, dict[str, object]] = {"controller_worker": dict(REAL),
                                           "house_keeping": {"spare_amphora_pool_size": 0}}
    for item in isolation_settings(state):
        key, _, value = item.partition("=")
        group, _, name = key.partition(".")
        groups.setdefault(group, {})[name] = value
    return groups


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # format() includes any traceback


@contextlib.contextmanager
def debug_logging() -> Iterator[_Collect]:
    handler, root = _Collect(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def import_secret(rig_state: Path, db_url: str, path: Path, *extra: str) -> tuple[str, str]:
    """`ostia secret create` in this process (its logging included); returns (ref, everything it printed)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main.main(["-v", "--state-dir", str(rig_state), "--set", f"database.connection={db_url}",
                          "secret", "create", "--project", PROJECT, *extra, str(path)])
    assert code == 0, err.getvalue()
    return out.getvalue().strip(), out.getvalue() + err.getvalue()


class Recorder:
    """An Api that keeps every answer's body."""

    def __init__(self, api: Api, answers: list[tuple[str, str]]) -> None:
        self.api, self.answers = api, answers

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        resp = getattr(self.api, method)(path, body) if body is not None else getattr(self.api, method)(path)
        self.answers.append((f"{method.upper()} {path}", resp.text))
        assert resp.status_code < 300, (path, resp.text)
        return resp.json() if resp.content else None


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    state = short_tmpdir()
    ca = tls_secrets.issue("hygiene-ca", ca=True)
    server, sni, client = (tls_secrets.issue(cn, ca) for cn in ("www.hygiene", "sni.hygiene", "pool.hygiene"))
    markers = {**key_markers("server", server.key), **key_markers("sni", sni.key), **key_markers("pool", client.key),
               "passphrase": PASSPHRASE.encode()}
    files = tmp_path_factory.mktemp("hygiene-in")
    (files / "server.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"server", server.key, server.cert, [ca.cert], serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    (files / "sni.pem").write_bytes(sni.cert_pem() + sni.key_pem(PASSPHRASE.encode()))
    (files / "pool.pem").write_bytes(client.cert_pem() + client.key_pem())
    (files / "ca.pem").write_bytes(ca.cert_pem())
    try:
        with fresh_database("sqlite", str(tmp_path_factory.mktemp("hygiene-db"))) as url, debug_logging() as log:
            rig = Rig(state=state, db_url=url, markers=markers)
            with running_controller(url, str(state), **settings(state)) as ctl, TestClient(ctl.app) as client_:
                refs = {}
                for name, (file, extra) in {"server": ("server.p12", ("--passphrase", PASSPHRASE)),
                                            "sni": ("sni.pem", ("--passphrase", PASSPHRASE)),
                                            "pool": ("pool.pem", ()), "ca": ("ca.pem", ())}.items():
                    refs[name], printed = import_secret(state, url, files / file, *extra)
                    rig.cli_output += printed
                api = Api(client_, PROJECT)
                try:
                    build(Recorder(api, rig.answers), api, refs, rig)
                    rig.log = "\n".join(log.lines)
                    yield rig  # the amphora still runs: its files are audited as they are while serving
                finally:
                    for lb in api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]:
                        api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
                        api.wait_lb(lb["id"], "DELETED", timeout=120)
    finally:
        delete_all(state / "amphorae")
        shutil.rmtree(state, ignore_errors=True)


def build(call: Recorder, api: Api, refs: dict[str, str], rig: Rig) -> None:
    lb = call("post", "/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET}})["loadbalancer"]
    api.wait_lb(lb["id"], timeout=180)
    pool = call("post", "/v2/lbaas/pools", {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "tls_enabled": True,
        "tls_container_ref": refs["pool"], "ca_tls_container_ref": refs["ca"]}})["pool"]
    api.wait_lb(lb["id"], timeout=120)
    listener = call("post", "/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
        "default_tls_container_ref": refs["server"], "sni_container_refs": [refs["sni"]],
        "client_ca_tls_container_ref": refs["ca"], "client_authentication": "OPTIONAL",
        "default_pool_id": pool["id"]}})["listener"]
    lb = api.wait_lb(lb["id"], timeout=120)
    for path in ("/v2/lbaas/loadbalancers", "/v2/lbaas/listeners", "/v2/lbaas/pools", "/v2/lbaas/healthmonitors",
                 "/v2/lbaas/l7policies", "/v2/octavia/amphorae", f"/v2/lbaas/loadbalancers/{lb['id']}",
                 f"/v2/lbaas/loadbalancers/{lb['id']}/status", f"/v2/lbaas/loadbalancers/{lb['id']}/stats",
                 f"/v2/lbaas/listeners/{listener['id']}", f"/v2/lbaas/listeners/{listener['id']}/stats",
                 f"/v2/lbaas/pools/{pool['id']}", f"/v2/lbaas/pools/{pool['id']}/members"):
        call("get", path)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with contextlib.closing(ctx.wrap_socket(socket.create_connection((lb["vip_address"], 443), 10),
                                            server_hostname="www.hygiene")) as tls:
        rig.served = tls.getpeercert(binary_form=True) or b""


def leaks(text: bytes, markers: dict[str, bytes]) -> list[str]:
    return [name for name, marker in markers.items() if marker in text]


def test_the_listener_serves_the_imported_certificate(rig: Rig) -> None:
    # Proves the rig really pushed the keys to HAProxy: the audit below looks at a working deployment.
    from cryptography import x509

    assert x509.load_der_x509_certificate(rig.served).subject.rfc4514_string() == "CN=www.hygiene"


def test_no_api_answer_carries_a_key_or_the_passphrase(rig: Rig) -> None:
    assert len(rig.answers) >= 16
    found = {request: leaks(body.encode(), rig.markers) for request, body in rig.answers}
    assert not {k: v for k, v in found.items() if v}, found
    assert not any("PRIVATE KEY" in body for _, body in rig.answers)


def test_no_log_line_carries_a_key_or_the_passphrase(rig: Rig) -> None:
    logs = {"controller (debug)": rig.log.encode(), "ostia secret create -v": rig.cli_output.encode()}
    for path in rig.state.rglob("*.log"):
        logs[str(path)] = path.read_bytes()
    assert "DEBUG" in rig.log and len(logs) >= 3, list(logs)
    found = {name: leaks(text, rig.markers) for name, text in logs.items()}
    assert not {k: v for k, v in found.items() if v}, found
    assert not [name for name, text in logs.items() if PEM_KEY in text]


def test_no_database_column_holds_a_key_in_clear(rig: Rig) -> None:
    from ostia.db.engine import make_engine

    engine = make_engine(rig.db_url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        found: dict[str, list[str]] = {}
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(select(table)):
                    for column, value in row._mapping.items():
                        data = value.encode() if isinstance(value, str) else value
                        if isinstance(data, bytes) and (hits := leaks(data, rig.markers) or
                                                        (["PEM key"] if PEM_KEY in data else [])):
                            found.setdefault(f"{table.name}.{column}", []).extend(hits)
        assert len(meta.sorted_tables) > 10
        assert not found, found
    finally:
        engine.dispose()


def test_files_holding_private_keys_are_0600_in_0700_directories(rig: Rig) -> None:
    holding = [p for p in rig.state.rglob("*") if p.is_file() and not p.is_symlink() and PEM_KEY in p.read_bytes()]
    names = {p.name for p in holding}
    # the CA key, the controller's client key, the amphora's server key and HAProxy's listener bundles
    assert len(holding) >= 4, sorted(map(str, holding))
    loose = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in holding if p.stat().st_mode & 0o077}
    assert not loose, loose
    open_dirs = {str(d): oct(stat.S_IMODE(d.stat().st_mode)) for d in {p.parent for p in holding}
                 if d.stat().st_mode & 0o077}
    assert not open_dirs, (open_dirs, names)
    # The markers are the right ones: HAProxy's bundles do hold the tenant keys (so the checks above can fail).
    assert {"server base64 middle", "sni base64 middle", "pool base64 middle"} <= set(
        leaks(b"".join(p.read_bytes().replace(b"\n", b"") for p in holding), rig.markers))
