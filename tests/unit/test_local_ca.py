"""Local CA: creation, reload, passphrase, file modes, and real mutual-TLS handshakes on loopback."""

from __future__ import annotations

import concurrent.futures
import datetime
import http.server
import json
import os
import socket
import ssl
import stat
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ostia import conf as conf_mod
from ostia.drivers.certificates import tls
from ostia.drivers.certificates.base import CAPassphraseError, CertificateDriver, CertificateError, IssuedCert
from ostia.drivers.certificates.local_ca import LocalCertificateDriver

TIMEOUT = 5.0
PASS = "test-passphrase"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _peer_cn(peer: Any) -> str:
    """commonName from ssl's getpeercert() dict (subject is a tuple of RDNs, each a tuple of pairs)."""
    return next(value for rdn in peer["subject"] for key, value in rdn if key == "commonName")


def _write(directory: Path, name: str, issued: IssuedCert) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    cert.write_bytes(issued.cert_pem)
    key.write_bytes(issued.key_pem)
    return cert, key


@pytest.fixture()
def driver(tmp_path: Path) -> LocalCertificateDriver:
    return LocalCertificateDriver(tmp_path / "ca", PASS)


def test_ca_created_once_then_reloaded(driver: LocalCertificateDriver, tmp_path: Path) -> None:
    checked: CertificateDriver = driver  # noqa: F841 -- static check that the class satisfies the Protocol
    driver.ensure_ca()
    ca_pem, ca_key = (tmp_path / "ca" / "ca.pem").read_bytes(), (tmp_path / "ca" / "ca.key").read_bytes()
    driver.ensure_ca()  # same instance: no-op
    again = LocalCertificateDriver(tmp_path / "ca", PASS)
    again.ensure_ca()  # new instance (a restart): loads, never recreates
    assert (tmp_path / "ca" / "ca.pem").read_bytes() == ca_pem
    assert (tmp_path / "ca" / "ca.key").read_bytes() == ca_key
    assert again.ca_bundle() == driver.ca_bundle() == ca_pem
    # a certificate issued after the restart still chains to the original CA
    ca = x509.load_pem_x509_certificate(ca_pem)
    x509.load_pem_x509_certificate(again.issue_server_cert("a1").cert_pem).verify_directly_issued_by(ca)

    assert _cn(ca) == "Ostia amphora CA" and ca.issuer == ca.subject
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    validity = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert datetime.timedelta(days=3649) < validity < datetime.timedelta(days=3651)


def test_concurrent_first_use_creates_one_ca(tmp_path: Path) -> None:
    # API and worker processes may start together on a fresh state dir; the flock makes them agree on one CA
    drivers = [LocalCertificateDriver(tmp_path / "ca", PASS) for _ in range(6)]
    with concurrent.futures.ThreadPoolExecutor(len(drivers)) as pool:
        bundles = list(pool.map(lambda d: d.ca_bundle(), drivers, timeout=TIMEOUT))
    assert len(set(bundles)) == 1 and bundles[0] == (tmp_path / "ca" / "ca.pem").read_bytes()


def test_passphrase_protects_the_ca_key(driver: LocalCertificateDriver, tmp_path: Path) -> None:
    driver.ensure_ca()
    key_pem = (tmp_path / "ca" / "ca.key").read_bytes()
    assert key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):  # encrypted: unusable without a password
        serialization.load_pem_private_key(key_pem, password=None)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(key_pem, password=b"not-it")
    assert isinstance(serialization.load_pem_private_key(key_pem, password=PASS.encode()), ec.EllipticCurvePrivateKey)

    wrong = LocalCertificateDriver(tmp_path / "ca", "not-the-passphrase")
    with pytest.raises(CAPassphraseError) as err:
        wrong.ensure_ca()
    assert "ca_private_key_passphrase" in str(err.value) and str(tmp_path / "ca" / "ca.key") in str(err.value)
    assert err.value.__suppress_context__  # a clean message, not a chained cryptography traceback
    with pytest.raises(CAPassphraseError):
        wrong.issue_server_cert("a1")
    assert (tmp_path / "ca" / "ca.key").read_bytes() == key_pem  # a wrong passphrase never replaces the CA

    with pytest.raises(CertificateError, match="must not be empty"):
        LocalCertificateDriver(tmp_path / "other", "")
    (tmp_path / "ca" / "ca.pem").unlink()
    with pytest.raises(CertificateError, match="incomplete CA .* only ca.key exists"):
        LocalCertificateDriver(tmp_path / "ca", PASS).ensure_ca()


def test_file_modes(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    ca_dir.mkdir(mode=0o755)  # a pre-existing, too-open directory gets tightened
    os.chmod(ca_dir, 0o755)
    drv = LocalCertificateDriver(ca_dir, PASS)
    drv.ensure_ca()
    cert_file, key_file = drv.client_cert_files()
    assert _mode(ca_dir) == 0o700
    files = sorted(p.name for p in ca_dir.iterdir())
    assert files == [".lock", "ca.key", "ca.pem", "ostia-controller.key", "ostia-controller.pem"]  # no temp files
    for name in files:
        assert _mode(ca_dir / name) == 0o600, name
    assert (cert_file, key_file) == (ca_dir / "ostia-controller.pem", ca_dir / "ostia-controller.key")


def test_issued_certificates(driver: LocalCertificateDriver) -> None:
    amphora_id = str(uuid.uuid4())
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)  # X.509 times have whole seconds
    issued = driver.issue_server_cert(amphora_id)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    ca = x509.load_pem_x509_certificate(driver.ca_bundle())
    cert.verify_directly_issued_by(ca)
    assert _cn(cert) == amphora_id
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == [amphora_id]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski
    assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest != ca_ski
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert key.public_key() == cert.public_key()
    # default validity 30 days; expires_at is the certificate's notAfter
    assert issued.expires_at == cert.not_valid_after_utc
    assert before + datetime.timedelta(days=30) <= issued.expires_at <= before + datetime.timedelta(days=30, minutes=1)
    short = driver.issue_server_cert(amphora_id, datetime.timedelta(hours=2)).expires_at
    assert before + datetime.timedelta(hours=2) <= short <= before + datetime.timedelta(hours=2, minutes=1)
    # never beyond the CA's own expiry
    assert driver.issue_server_cert("x", datetime.timedelta(days=99999)).expires_at == ca.not_valid_after_utc
    # two certificates for one amphora differ (fresh key and serial)
    again = x509.load_pem_x509_certificate(driver.issue_server_cert(amphora_id).cert_pem)
    assert again.serial_number != cert.serial_number and again.public_key() != cert.public_key()

    client = x509.load_pem_x509_certificate(driver.issue_client_cert("ostia-controller").cert_pem)
    assert _cn(client) == "ostia-controller"
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]


def test_client_cert_files_persist_and_renew(tmp_path: Path) -> None:
    drv = LocalCertificateDriver(tmp_path / "ca", PASS)
    cert_file, key_file = drv.client_cert_files()
    first = cert_file.read_bytes()
    assert drv.client_cert_files() == (cert_file, key_file) and cert_file.read_bytes() == first  # reused
    key_file.unlink()
    drv.client_cert_files()
    assert cert_file.read_bytes() != first  # a lost key means a new certificate
    # signed by another CA (e.g. the CA directory was replaced): re-issued from the current CA
    foreign = LocalCertificateDriver(tmp_path / "other", PASS).issue_client_cert("ostia-controller")
    _write(tmp_path / "ca", "ostia-controller", foreign)
    drv.client_cert_files()
    x509.load_pem_x509_certificate(cert_file.read_bytes()).verify_directly_issued_by(
        x509.load_pem_x509_certificate(drv.ca_bundle()))
    # nearly expired (less than a third of its lifetime left): re-issued
    short = LocalCertificateDriver(tmp_path / "ca", PASS, cert_validity=datetime.timedelta(minutes=1))
    _write(tmp_path / "ca", "ostia-controller", short.issue_client_cert("ostia-controller"))
    stale = cert_file.read_bytes()
    drv.client_cert_files()
    assert cert_file.read_bytes() != stale


def test_from_conf(tmp_path: Path) -> None:
    conf = conf_mod.load(overrides={"DEFAULT": {"state_dir": str(tmp_path)},
                                    "certificates": {"cert_validity_days": 7, "ca_validity_days": 100}})
    drv = LocalCertificateDriver.from_conf(conf)
    assert drv.ca_dir == tmp_path / "ca"
    assert drv.cert_validity == datetime.timedelta(days=7) and drv.ca_validity == datetime.timedelta(days=100)
    drv.ensure_ca()
    assert (tmp_path / "ca" / "ca.pem").exists()
    conf = conf_mod.load(overrides={"certificates": {"ca_dir": str(tmp_path / "elsewhere"),
                                                     "ca_private_key_passphrase": "prod-secret"}})
    drv = LocalCertificateDriver.from_conf(conf)
    assert drv.ca_dir == tmp_path / "elsewhere"
    drv.ensure_ca()
    with pytest.raises(CAPassphraseError):
        LocalCertificateDriver(tmp_path / "elsewhere", conf_mod.certificates.DEV_CA_PASSPHRASE).ensure_ca()
    secret = {o.name: o.secret for o in conf_mod.certificates.OPTS}
    assert secret["ca_private_key_passphrase"]  # never logged by oslo.config


# -- real TLS on loopback ---------------------------------------------------------------------------------


class _Material:
    """Files for one amphora (server side), the controller (client side) and an intruder from another CA."""

    def __init__(self, root: Path) -> None:
        self.amphora_id = str(uuid.uuid4())
        ca = LocalCertificateDriver(root / "ca", PASS)
        self.ca_file = root / "ca" / "ca.pem"
        self.server_cert, self.server_key = _write(root, "server", ca.issue_server_cert(self.amphora_id))
        self.client_cert, self.client_key = ca.client_cert_files()
        rogue = LocalCertificateDriver(root / "rogue", PASS)
        self.rogue_cert, self.rogue_key = _write(root, "rogue-client", rogue.issue_client_cert("ostia-controller"))
        self.rogue_ca_file = root / "rogue" / "ca.pem"

    def client_ctx(self, rogue: bool = False, with_cert: bool = True) -> ssl.SSLContext:
        if not with_cert:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            return ctx
        if rogue:
            return tls.client_context(self.rogue_cert, self.rogue_key, self.ca_file)
        return tls.client_context(self.client_cert, self.client_key, self.ca_file)


@pytest.fixture()
def material(tmp_path: Path) -> _Material:
    return _Material(tmp_path)


class _EchoServer:
    """Accepts TLS connections in a thread; answers each request line with the client certificate's CN."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx = ctx
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                raw, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(TIMEOUT)
            try:
                with self.ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.recv(1024)
                    peer = conn.getpeercert()
                    cn = _peer_cn(peer) if peer else "-"
                    conn.sendall(f"hello {cn}\n".encode())
            except (ssl.SSLError, OSError) as exc:
                self.errors.append(exc)
                raw.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(TIMEOUT)
        self.sock.close()
        assert not self.thread.is_alive()


@pytest.fixture()
def echo_server(material: _Material) -> Iterator[_EchoServer]:
    server = _EchoServer(tls.server_context(material.server_cert, material.server_key, material.ca_file))
    yield server
    server.close()


def _talk(port: int, ctx: ssl.SSLContext, server_hostname: str) -> tuple[bytes, Any]:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_hostname) as conn:
        conn.sendall(b"hi\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = conn.recv(1024)
            if not chunk:
                break
            reply += chunk
        return reply, conn.getpeercert()


def _errors(errors: list[BaseException], count: int) -> list[str]:
    """The server thread records a refusal just after the client saw it: wait (bounded) for `count`."""
    deadline = time.monotonic() + TIMEOUT
    while len(errors) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(isinstance(e, ssl.SSLError) for e in errors), errors
    return [str(e) for e in errors]


def _refused(port: int, ctx: ssl.SSLContext, server_hostname: str) -> None:
    # TLS 1.3 finishes the client's side of the handshake before the server judges the client certificate,
    # so the refusal (an alert) can surface on the first read instead of in the handshake.
    try:
        reply, _ = _talk(port, ctx, server_hostname)
    except (ssl.SSLError, ConnectionError):
        return
    assert reply == b"", reply


def test_mutual_tls_handshake(material: _Material, echo_server: _EchoServer) -> None:
    reply, peer = _talk(echo_server.port, material.client_ctx(), material.amphora_id)
    assert reply == b"hello ostia-controller\n"
    assert _peer_cn(peer) == material.amphora_id
    assert peer["subjectAltName"] == (("DNS", material.amphora_id),)
    assert echo_server.errors == []

    # a client certificate from another CA is refused by the server
    _refused(echo_server.port, material.client_ctx(rogue=True), material.amphora_id)
    # so is a client with no certificate at all
    _refused(echo_server.port, material.client_ctx(with_cert=False), material.amphora_id)
    # the server saw both refusals, for the right reasons
    rogue, missing = _errors(echo_server.errors, 2)
    assert "certificate verify failed: unable to get local issuer certificate" in rogue
    assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in missing

    # the controller refuses an agent that is not the amphora it meant to reach
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        _talk(echo_server.port, material.client_ctx(), str(uuid.uuid4()))
    # and one whose certificate is not from our CA
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _talk(echo_server.port, tls.client_context(material.client_cert, material.client_key,
                                                   material.rogue_ca_file), material.amphora_id)
    # the good client still works after all that
    assert _talk(echo_server.port, material.client_ctx(), material.amphora_id)[0] == b"hello ostia-controller\n"


class _AgentLikeHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
        assert isinstance(self.connection, ssl.SSLSocket)
        body = json.dumps({"client": _peer_cn(self.connection.getpeercert())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 -- quiet test output
        pass


class _TLSHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, ctx: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _AgentLikeHandler)
        self.ctx = ctx
        self.errors: list[BaseException] = []

    def get_request(self) -> tuple[socket.socket, object]:
        raw, addr = super().get_request()
        raw.settimeout(TIMEOUT)
        # the handshake runs on first read, in the request's own thread, not in the accept loop
        return self.ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: object, client_address: object) -> None:
        exc = sys.exc_info()[1]
        if exc is not None:
            self.errors.append(exc)


def test_httpx_client_certificate(material: _Material) -> None:
    server = _TLSHTTPServer(tls.server_context(material.server_cert, material.server_key, material.ca_file))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{server.server_address[1]}/1.0/info"
    sni = {"sni_hostname": material.amphora_id}
    try:
        with httpx.Client(verify=material.client_ctx(), timeout=TIMEOUT) as client:
            resp = client.get(url, extensions=sni)
            assert resp.status_code == 200 and resp.json() == {"client": "ostia-controller"}
            with pytest.raises(httpx.ConnectError, match="Hostname mismatch"):
                client.get(url, extensions={"sni_hostname": str(uuid.uuid4())})
        assert "SSLV3_ALERT_BAD_CERTIFICATE" in _errors(server.errors, 1)[0]  # the client hung up on it
        for n, ctx in enumerate((material.client_ctx(rogue=True), material.client_ctx(with_cert=False)), 2):
            with httpx.Client(verify=ctx, timeout=TIMEOUT) as client, pytest.raises(httpx.TransportError):
                client.get(url, extensions=sni)
            _errors(server.errors, n)
        _, rogue, missing = _errors(server.errors, 3)
        assert "certificate verify failed: unable to get local issuer certificate" in rogue
        assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in missing
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)
    assert not thread.is_alive()
