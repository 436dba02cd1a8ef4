"""Reading imported TLS material (`ostia secret create`): PEM in any order, PKCS#12, CA-only, CRL-only, and the
refusals an operator must see; plus the encryption of stored payloads."""

from __future__ import annotations

import pytest
from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ostia.domain.secrets import TlsBundle
from ostia.drivers.cert_manager import bundle, local
from tests.support import tls_secrets

CA = tls_secrets.issue("unit-ca", ca=True)
LEAF = tls_secrets.issue("leaf.example", CA)


def test_pem_finds_the_leaf_by_its_key_and_keeps_the_chain() -> None:
    got = bundle.load(CA.cert_pem() + LEAF.key_pem(b"pw") + LEAF.cert_pem(), b"pw")
    assert (got.certificate, got.intermediates, got.private_key) == (LEAF.cert_pem(), CA.cert_pem(),
                                                                     LEAF.key_pem())
    assert got.haproxy_pem() == LEAF.cert_pem() + CA.cert_pem() + LEAF.key_pem()
    assert bundle.describe(got) == "certificate+key"


def test_pkcs12_with_chain() -> None:
    data = pkcs12.serialize_key_and_certificates(b"x", LEAF.key, LEAF.cert, [CA.cert],
                                                 serialization.BestAvailableEncryption(b"pw"))
    got = bundle.load(data, b"pw")
    assert (got.certificate, got.intermediates, got.private_key) == (LEAF.cert_pem(), CA.cert_pem(),
                                                                     LEAF.key_pem())


def test_ca_only_and_crl_only_containers() -> None:
    ca = bundle.load(CA.cert_pem())
    assert (ca.private_key, ca.ca_pem(), bundle.describe(ca)) == (None, CA.cert_pem(), "ca-certificate")
    crl = tls_secrets.crl_pem(CA, [LEAF.cert])
    only = bundle.load(crl)
    assert (only.certificate, only.crl_pem(), only.ca_pem(), bundle.describe(only)) == (b"", crl, crl, "crl")


@pytest.mark.parametrize(("data", "passphrase", "why"), [
    (LEAF.cert_pem() + tls_secrets.issue("other").key_pem(), None, "does not match any certificate"),
    (LEAF.key_pem(), None, "a private key without its certificate"),
    (LEAF.cert_pem() + LEAF.key_pem(b"pw"), None, "cannot read the ENCRYPTED PRIVATE KEY block"),
    (LEAF.cert_pem() + LEAF.key_pem(b"pw"), b"nope", "cannot read the ENCRYPTED PRIVATE KEY block"),
    (b"-----BEGIN NOTHING-----\nAA==\n-----END NOTHING-----\n", None, "no certificate and no CRL"),
    (b"\x00\x01 not an archive", b"pw", "not a PEM file and not a readable PKCS#12"),
])
def test_unusable_files_are_refused_with_a_reason(data: bytes, passphrase: bytes | None, why: str) -> None:
    with pytest.raises(bundle.BundleError, match=why):
        bundle.load(data, passphrase)


def test_refs_and_payload_encryption() -> None:
    ref = local.ref_for("0b0b508f-291c-4367-b3f1-2045359bfd77")
    assert local.secret_id(ref) == "0b0b508f-291c-4367-b3f1-2045359bfd77"
    assert local.secret_id("ostia://secrets/../x") is None and local.secret_id("https://km/1") is None
    token = local.fernet_for("k1").encrypt(b"payload")
    assert local.fernet_for("k1").decrypt(token) == b"payload"
    with pytest.raises(InvalidToken):
        local.fernet_for("k2").decrypt(token)
    assert TlsBundle(b"C", b"K", b"I").haproxy_pem() == b"C\nI\nK\n"
