"""Real TLS material for tests (made with cryptography) and stored secrets behind real refs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ostia.domain.secrets import TlsBundle
from ostia.drivers.cert_manager.local import LocalCertManager

PEM = serialization.Encoding.PEM


@dataclasses.dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(PEM)

    def key_pem(self, passphrase: bytes | None = None) -> bytes:
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption())
        return self.key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, enc)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(cn: str, issuer: Issued | None = None, ca: bool = False) -> Issued:
    """A certificate for `cn`, signed by `issuer` (self-signed without one)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(cn))
               .issuer_name(issuer.cert.subject if issuer else _name(cn)).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Issued(cert, key)


def crl_pem(ca: Issued, revoked: list[x509.Certificate] | None = None) -> bytes:
    now = dt.datetime.now(dt.UTC)
    builder = x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject).last_update(now) \
        .next_update(now + dt.timedelta(days=1))
    for cert in revoked or []:
        builder = builder.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(
            cert.serial_number).revocation_date(now).build())
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(PEM)


@dataclasses.dataclass
class Refs:
    """One project's usable refs: two server certificates, a client CA and its CRL."""

    cert: str
    cert2: str
    ca: str
    crl: str


def manager(controller: Any) -> LocalCertManager:
    """The certificate manager the controller's API uses (same database, same encryption key)."""
    return LocalCertManager(controller.conf, controller.db)


def store_refs(controller: Any, project: str | None = "p1") -> Refs:
    ca = issue("test-ca", ca=True)
    server = issue("www.example.com", ca)
    other = issue("api.example.com", ca)
    mgr = manager(controller)
    try:
        def cert(leaf: Issued) -> str:
            return mgr.store(TlsBundle(leaf.cert_pem(), leaf.key_pem(), ca.cert_pem()), project)

        return Refs(cert=cert(server), cert2=cert(other), ca=mgr.store(TlsBundle(ca.cert_pem()), project),
                    crl=mgr.store(TlsBundle(crl=crl_pem(ca)), project))
    finally:
        mgr.close()
