"""Certificate drivers issue the X.509 material of the controller ↔ amphora mutual-TLS channel."""

from __future__ import annotations

import datetime
from typing import NamedTuple, Protocol


class CertificateError(Exception):
    """The CA cannot be created, loaded or used; the message says what to fix."""


class CAPassphraseError(CertificateError):
    """The CA private key does not decrypt with the configured passphrase."""


class IssuedCert(NamedTuple):
    cert_pem: bytes
    key_pem: bytes  # unencrypted PKCS#8: it is handed to ssl/httpx, which read plain PEM files
    expires_at: datetime.datetime  # timezone-aware UTC (the certificate's notAfter)


class CertificateDriver(Protocol):
    def ensure_ca(self) -> None:
        """Create the CA if it does not exist yet, otherwise load it; safe to call repeatedly."""

    def issue_server_cert(self, amphora_id: str, validity: datetime.timedelta | None = None) -> IssuedCert:
        """A server certificate for one amphora's agent: CN and DNS SAN = the amphora id."""

    def issue_client_cert(self, name: str, validity: datetime.timedelta | None = None) -> IssuedCert:
        """A client certificate (CN = name) the agent accepts, e.g. for the controller."""

    def ca_bundle(self) -> bytes:
        """PEM of the CA certificate(s) both sides trust."""
