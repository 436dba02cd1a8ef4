"""A throw-away certificate authority for tests: certificates it signs, their keys, and CRLs, as PEM text.

Used by the `haproxy -c` golden test (files the configs name) and by the data-plane tests (listener, SNI,
client and member certificates that real TLS handshakes check).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Issued:
    """One certificate signed by a `Pki`, with its private key."""

    cert: x509.Certificate
    key_pem: bytes

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def bundle(self) -> bytes:
        """Certificate + key in one file: what HAProxy's crt/crt-list entries and Python's load_cert_chain take."""
        return self.cert_pem + self.key_pem

    @property
    def serial(self) -> int:
        return self.cert.serial_number

    @property
    def sha1_hex(self) -> str:
        return self.cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S324 - HAProxy's ssl_c_sha1 is SHA-1


class Pki:
    """A CA, certificates it signs (one per name) and CRLs."""

    def __init__(self, name: str = "ostia test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.name = subject
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))

    def ca_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def crl_pem(self, revoked: tuple[int, ...] = ()) -> bytes:
        """A CRL signed by this CA listing the given certificate serial numbers (none: an empty CRL)."""
        now = dt.datetime.now(dt.UTC)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.name)
                   .last_update(now - dt.timedelta(minutes=5)).next_update(now + dt.timedelta(days=30)))
        for serial in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - dt.timedelta(minutes=5))
                .build())
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str) -> Issued:
        """A leaf certificate for `cn` (also its DNS SAN, so it serves as a server or a client certificate)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .issuer_name(self.name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
                .sign(self.key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return Issued(cert=cert, key_pem=key_pem)

    def bundle_pem(self, cn: str) -> bytes:
        """Certificate + key, the form HAProxy's crt and crt-list entries take."""
        return self.issue(cn).bundle
