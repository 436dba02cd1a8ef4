"""A local CA on disk: created on first use, its private key encrypted with a configured passphrase.

Layout of `ca_dir` (0700, every file 0600):
    ca.pem             CA certificate
    ca.key             CA private key, PKCS#8 encrypted (BestAvailableEncryption)
    <name>.pem/.key    client certificates persisted by `client_cert_files()` (the controller's)
    .lock              flock taken while creating or renewing, so concurrent processes agree on one CA
    rotation.json      CA generation and rotation phase (absent: generation 1, no rotation)
    ca-next.pem/.key   the new CA while a rotation distributes it (phase "distributing")
    ca-old.pem         the previous CA, still trusted during the grace period (phase "grace")
    trust.pem          the CA certificates trusted right now (current + next or old), for ssl contexts

CA rotation (see ostia/housekeeping/ca_rotation.py for who calls what): `begin_rotation` creates ca-next and
makes it trusted next to the current CA, server certificates are issued from it from then on; `promote` makes it
the CA (the client certificate follows) and keeps the old one trusted until the grace period ends; `finish`
drops the old one. rotation.json is written first at every step and the file moves after it are idempotent
(`_settle`), so a crash between two of them is completed by whichever process looks next.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ostia.drivers.certificates.base import CAPassphraseError, CertificateError, IssuedCert
from ostia.files import write_private

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
NEXT_CERT, NEXT_KEY = "ca-next.pem", "ca-next.key"
OLD_CERT = "ca-old.pem"
ROTATION = "rotation.json"
TRUST = "trust.pem"
CA_COMMON_NAME = "Ostia amphora CA"
CONTROLLER_CERT_NAME = "ostia-controller"
# Certificates start being valid a little in the past so a peer whose clock lags slightly accepts them.
_BACKDATE = datetime.timedelta(minutes=5)
# Keys this driver creates are EC; an operator-provided RSA CA (ca.pem + ca.key dropped in ca_dir) also works.
CAKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: as strong as RSA-3072 and generated in microseconds, which matters when every amphora gets one.
    return ec.generate_private_key(ec.SECP256R1())


def _key_usage(*, digital_signature: bool = False, key_agreement: bool = False, cert_sign: bool = False,
               ) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=key_agreement, key_cert_sign=cert_sign,
                         crl_sign=cert_sign, encipher_only=False, decipher_only=False)


class LocalCertificateDriver:
    def __init__(self, ca_dir: str | os.PathLike[str], passphrase: str, *,
                 cert_validity: datetime.timedelta = datetime.timedelta(days=30),
                 ca_validity: datetime.timedelta = datetime.timedelta(days=3650)) -> None:
        if not passphrase:
            raise CertificateError("[certificates] ca_private_key_passphrase must not be empty")
        self.ca_dir = Path(ca_dir)
        self._passphrase = passphrase.encode()
        self.cert_validity = cert_validity
        self.ca_validity = ca_validity
        self._ca: tuple[x509.Certificate, CAKey] | None = None
        self._next: tuple[x509.Certificate, CAKey] | None = None  # phase "distributing": issues server certs
        self._old: x509.Certificate | None = None  # phase "grace": still trusted
        self._state: dict[str, Any] = {}
        self._stamp: tuple[int, ...] | None = None
        self._held = threading.local()  # how deep this thread is inside _locked (flock is not re-entrant)

    @classmethod
    def from_conf(cls, conf: Any) -> LocalCertificateDriver:
        c = conf.certificates
        return cls(c.ca_dir or os.path.join(conf.state_dir, "ca"), c.ca_private_key_passphrase,
                   cert_validity=datetime.timedelta(days=c.cert_validity_days),
                   ca_validity=datetime.timedelta(days=c.ca_validity_days))

    # -- the CA -------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if getattr(self._held, "depth", 0):  # re-entered (e.g. issuing reloads a rotated CA): already ours
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        self.ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.ca_dir, 0o700)  # mkdir's mode is filtered by umask and ignored for an existing dir
        fd = os.open(self.ca_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._held.depth = 1
            try:
                yield
            finally:
                self._held.depth = 0
        finally:
            os.close(fd)

    def rotation_stamp(self) -> tuple[int, ...]:
        """Changes whenever another process rotates the CA: cached CAs are reloaded then. Files are replaced by
        rename, so the inode changes even when the clock's granularity hides an mtime change."""
        def stamp(name: str) -> tuple[int, int]:
            try:
                st = (self.ca_dir / name).stat()
            except FileNotFoundError:
                return 0, 0
            return st.st_ino, st.st_mtime_ns
        return *stamp(ROTATION), *stamp(CA_CERT)

    def ensure_ca(self) -> None:
        if self._ca is not None and self._stamp == self.rotation_stamp():
            return
        with self._locked():
            self._settle()
            cert_path, key_path = self.ca_dir / CA_CERT, self.ca_dir / CA_KEY
            if cert_path.exists() and key_path.exists():
                ca = self._load(cert_path, key_path)
            elif cert_path.exists() or key_path.exists():
                present = cert_path if cert_path.exists() else key_path
                raise CertificateError(f"incomplete CA in {self.ca_dir}: only {present.name} exists; "
                                       "restore the missing file or remove the directory to start a new CA")
            else:
                ca = self._create(cert_path, key_path)
            state = self._read_state()
            self._next = self._load(self.ca_dir / NEXT_CERT, self.ca_dir / NEXT_KEY) \
                if state["phase"] == "distributing" else None
            old = self.ca_dir / OLD_CERT
            self._old = x509.load_pem_x509_certificate(old.read_bytes()) \
                if state["phase"] == "grace" and old.exists() else None
            self._ca, self._state, self._stamp = ca, state, self.rotation_stamp()

    # -- rotation -------------------------------------------------------------------------------------------

    def _read_state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads((self.ca_dir / ROTATION).read_text())
        except FileNotFoundError:
            state = {}
        return {"generation": 1, "phase": "none", "grace_until": None, "grace": 0, **state}

    def _write_state(self, state: dict[str, Any]) -> None:
        write_private(self.ca_dir / ROTATION, json.dumps(state, sort_keys=True).encode())

    def _settle(self) -> None:
        """Complete the file moves of the step rotation.json says was taken (called with the lock held)."""
        d, phase = self.ca_dir, self._read_state()["phase"]
        if phase == "grace":
            if (d / NEXT_KEY).exists():
                os.replace(d / NEXT_KEY, d / CA_KEY)  # the old CA's key is no longer needed: gone
            if (d / NEXT_CERT).exists():
                if not (d / OLD_CERT).exists():
                    os.replace(d / CA_CERT, d / OLD_CERT)
                os.replace(d / NEXT_CERT, d / CA_CERT)
        elif phase == "none":
            for name in (OLD_CERT, NEXT_CERT, NEXT_KEY):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(d / name)

    def rotation_state(self) -> dict[str, Any]:
        """generation (of the current CA), phase (none, distributing, grace), grace_until (ISO UTC or None)."""
        self.ensure_ca()
        return dict(self._state)

    @property
    def server_generation(self) -> int:
        """The generation of the CA that signs server certificates issued now."""
        state = self.rotation_state()
        return int(state["generation"]) + (1 if state["phase"] == "distributing" else 0)

    def begin_rotation(self, grace: datetime.timedelta) -> dict[str, Any]:
        """Create the next CA; trusted from now on next to the current one, and it signs new server certs."""
        self.ensure_ca()
        with self._locked():
            state = self._read_state()
            if state["phase"] != "none":
                raise CertificateError(f"a CA rotation is already in progress (phase {state['phase']})")
            # A crash before the state is written leaves an unused ca-next: the next attempt overwrites it.
            self._create(self.ca_dir / NEXT_CERT, self.ca_dir / NEXT_KEY, int(state["generation"]) + 1)
            state.update(phase="distributing", grace=grace.total_seconds(), grace_until=None,
                         started_at=_now().isoformat())
            self._write_state(state)
        self._stamp = None
        return self.rotation_state()

    def promote(self) -> dict[str, Any]:
        """The next CA becomes the CA (the client certificate is re-issued from it); the old one stays trusted
        for the grace period. Call once every amphora holds a server certificate from the next CA."""
        self.ensure_ca()
        with self._locked():
            state = self._read_state()
            if state["phase"] != "distributing":
                raise CertificateError(f"no CA rotation to promote (phase {state['phase']})")
            until = _now() + datetime.timedelta(seconds=float(state["grace"]))
            state.update(phase="grace", generation=int(state["generation"]) + 1, grace_until=until.isoformat())
            self._write_state(state)
            self._settle()
        self._stamp = None
        return self.rotation_state()

    def finish_rotation(self) -> dict[str, Any]:
        """Stop trusting the old CA (call once the agents were told to drop it, or are about to be)."""
        self.ensure_ca()
        with self._locked():
            state = self._read_state()
            if state["phase"] != "grace":
                raise CertificateError(f"no CA rotation in its grace period (phase {state['phase']})")
            state.update(phase="none", grace_until=None)
            self._write_state(state)
            self._settle()
        self._stamp = None
        return self.rotation_state()

    def grace_over(self) -> bool:
        state = self.rotation_state()
        return state["phase"] == "grace" and datetime.datetime.fromisoformat(state["grace_until"]) <= _now()

    def trusted_after_finish(self) -> bytes:
        """The bundle agents keep once the grace period ends: the current CA alone."""
        return self._loaded_ca()[0].public_bytes(serialization.Encoding.PEM)

    def _load(self, cert_path: Path, key_path: Path) -> tuple[x509.Certificate, CAKey]:
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except ValueError as exc:
            raise CertificateError(f"{cert_path} is not a PEM certificate: {exc}") from None
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=self._passphrase)
        except (ValueError, TypeError):
            # cryptography says "Bad decrypt. Incorrect password?" or that the key is not encrypted at all
            raise CAPassphraseError(
                f"cannot decrypt the CA private key {key_path} with [certificates] ca_private_key_passphrase "
                "(wrong passphrase, or the key is not an encrypted PEM key)") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) or key.public_key() != cert.public_key():
            raise CertificateError(f"{key_path} is not the private key of {cert_path}")
        return cert, key

    def _create(self, cert_path: Path, key_path: Path, generation: int = 1) -> tuple[x509.Certificate, CAKey]:
        key = _new_key()
        # Each generation its own name, so old and new CA are told apart in logs and chain building.
        common_name = CA_COMMON_NAME if generation == 1 else f"{CA_COMMON_NAME} {generation}"
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ostia"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        now = _now()
        cert = (x509.CertificateBuilder()
                .subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - _BACKDATE).not_valid_after(now + self.ca_validity)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
                .add_extension(ski, critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
                .sign(key, hashes.SHA256()))
        # The key first: a crash in between leaves "key without cert", which ensure_ca reports, never a
        # certificate whose key is lost.
        write_private(key_path, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._passphrase)))
        write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return cert, key

    def _loaded_ca(self) -> tuple[x509.Certificate, CAKey]:
        self.ensure_ca()
        assert self._ca is not None
        return self._ca

    def ca_bundle(self) -> bytes:
        """Every CA certificate trusted now: the current one, plus the next (distributing) or old (grace) one."""
        certs = [self._loaded_ca()[0]]
        if self._next is not None:
            certs.append(self._next[0])
        if self._old is not None:
            certs.append(self._old)
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)

    def trust_file(self) -> Path:
        """trust.pem holding `ca_bundle()`, rewritten when it differs (ssl contexts load CAs from files)."""
        bundle, path = self.ca_bundle(), self.ca_dir / TRUST
        if not path.exists() or path.read_bytes() != bundle:
            write_private(path, bundle)
        return path

    # -- issuing ------------------------------------------------------------------------------------------

    def _issue(self, common_name: str, validity: datetime.timedelta | None, *, server: bool) -> IssuedCert:
        ca_cert, ca_key = self._loaded_ca()
        if server and self._next is not None:  # mid-rotation: new server certificates come from the next CA
            ca_cert, ca_key = self._next
        key = _new_key()
        now = _now()
        not_after = min(now + (validity or self.cert_validity), ca_cert.not_valid_after_utc)
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if server \
            else [ExtendedKeyUsageOID.CLIENT_AUTH]
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - _BACKDATE).not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(_key_usage(digital_signature=True, key_agreement=True), critical=True)
                .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return IssuedCert(cert.public_bytes(serialization.Encoding.PEM), key_pem, cert.not_valid_after_utc)

    def issue_server_cert(self, amphora_id: str, validity: datetime.timedelta | None = None) -> IssuedCert:
        # The DNS SAN lets the controller check "this is amphora X" as an ordinary TLS hostname check
        # (connect to the agent's address, send the amphora id as SNI / server_hostname).
        return self._issue(amphora_id, validity, server=True)

    def issue_client_cert(self, name: str, validity: datetime.timedelta | None = None) -> IssuedCert:
        return self._issue(name, validity, server=False)

    def client_cert_files(self, name: str = CONTROLLER_CERT_NAME) -> tuple[Path, Path]:
        """(cert, key) paths of a persisted client certificate, issued or renewed as needed.

        ssl and httpx load certificates from files, so the controller's certificate lives in the CA
        directory. It is re-issued once a third of its lifetime is left, or if another CA signed it.
        """
        ca_cert, _ = self._loaded_ca()
        cert_path, key_path = self.ca_dir / f"{name}.pem", self.ca_dir / f"{name}.key"
        with self._locked():
            if not self._still_good(cert_path, key_path, ca_cert):
                issued = self.issue_client_cert(name)
                write_private(key_path, issued.key_pem)
                write_private(cert_path, issued.cert_pem)
        return cert_path, key_path

    def _still_good(self, cert_path: Path, key_path: Path, ca_cert: x509.Certificate) -> bool:
        if not (cert_path.exists() and key_path.exists()):
            return False
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            cert.verify_directly_issued_by(ca_cert)
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (ValueError, TypeError, InvalidSignature):
            return False
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        return key.public_key() == cert.public_key() and cert.not_valid_after_utc - _now() > lifetime / 3
