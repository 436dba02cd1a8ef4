"""Reading the TLS material an operator imports: PKCS#12, or PEM (certificate, chain, key, CA, CRL).

Everything ends up as a `TlsBundle` of PEM bytes with the private key decrypted to PKCS#8, the form HAProxy
reads without a passphrase.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from ostia.domain.secrets import TlsBundle

PEM = serialization.Encoding.PEM
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


class BundleError(ValueError):
    """The file cannot be used as a TLS secret (the message says why, for the operator)."""


def load(data: bytes, passphrase: bytes | None = None) -> TlsBundle:
    """A bundle from PEM text or a PKCS#12 archive; the key (if any) must match the certificate."""
    if b"-----BEGIN " in data:
        return _from_pem(data, passphrase)
    return _from_pkcs12(data, passphrase)


def _from_pkcs12(data: bytes, passphrase: bytes | None) -> TlsBundle:
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase)
    except ValueError as exc:
        raise BundleError(f"not a PEM file and not a readable PKCS#12 archive (wrong passphrase?): {exc}") from None
    if cert is None:
        raise BundleError("the PKCS#12 archive holds no certificate")
    return _assemble(cert, list(extra), key, b"")


def _from_pem(data: bytes, passphrase: bytes | None) -> TlsBundle:
    certs: list[x509.Certificate] = []
    keys: list[PrivateKeyTypes] = []
    crls: list[bytes] = []
    for match in _BLOCK.finditer(data):
        kind, block = match.group(1), match.group(0)
        try:
            if kind in (b"CERTIFICATE", b"TRUSTED CERTIFICATE"):
                certs.append(x509.load_pem_x509_certificate(block))
            elif kind.endswith(b"PRIVATE KEY"):
                keys.append(serialization.load_pem_private_key(block, passphrase))
            elif kind == b"X509 CRL":
                crls.append(x509.load_pem_x509_crl(block).public_bytes(PEM))
        except (ValueError, TypeError) as exc:
            # TypeError: an encrypted key without a passphrase (or a passphrase for a clear key).
            raise BundleError(f"cannot read the {kind.decode()} block: {exc}") from None
    if len(keys) > 1:
        raise BundleError("more than one private key in the file")
    if keys and not certs:
        raise BundleError("a private key without its certificate")
    if not certs and not crls:
        raise BundleError("no certificate and no CRL in the file")
    key = keys[0] if keys else None
    if not certs:
        return TlsBundle(crl=b"".join(crls))
    leaf = _leaf(certs, key)
    return _assemble(leaf, [c for c in certs if c is not leaf], key, b"".join(crls))


def _leaf(certs: list[x509.Certificate], key: PrivateKeyTypes | None) -> x509.Certificate:
    """The certificate the key belongs to; without a key the first one (a CA file lists its CA first)."""
    if key is None:
        return certs[0]
    for cert in certs:
        if _public(cert.public_key()) == _public(key.public_key()):
            return cert
    raise BundleError("the private key does not match any certificate in the file")


def _public(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _assemble(cert: x509.Certificate, chain: list[x509.Certificate], key: PrivateKeyTypes | None,
              crl: bytes) -> TlsBundle:
    if key is not None and _public(cert.public_key()) != _public(key.public_key()):
        raise BundleError("the private key does not match the certificate")
    key_pem = None
    if key is not None:
        key_pem = key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return TlsBundle(certificate=cert.public_bytes(PEM), private_key=key_pem,
                     intermediates=b"".join(c.public_bytes(PEM) for c in chain), crl=crl)


def describe(bundle: TlsBundle) -> str:
    """A short kind for listings: what a ref can be used for."""
    if bundle.private_key:
        return "certificate+key"
    if bundle.certificate:
        return "ca-certificate"
    return "crl"
