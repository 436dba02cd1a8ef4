"""TLS material as the controller uses it, and the certificate manager interface (no I/O here).

Refs are opaque strings to the API (python-octaviaclient passes any string through); a certificate manager
resolves them for a project. The API only checks that they resolve; the worker reads the bundles to push
certificates to the amphorae.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from ostia.domain.errors import CertificateRetrievalError


@dataclasses.dataclass(frozen=True)
class TlsBundle:
    """One secret container.

    A server/client certificate has `certificate` (the leaf), `private_key` (unencrypted PKCS#8 PEM, because
    HAProxy cannot prompt for a passphrase) and `intermediates` (the chain, leaf's issuer first). A client CA
    container has the CA certificate(s) and no key; a CRL container has only `crl`.
    """

    certificate: bytes = b""
    private_key: bytes | None = None
    intermediates: bytes = b""
    crl: bytes = b""

    def haproxy_pem(self) -> bytes:
        """What HAProxy's `crt` takes: certificate, chain and key in one file."""
        return join_pem(self.certificate, self.intermediates, self.private_key or b"")

    def ca_pem(self) -> bytes:
        """What a `ca-file` takes: the CA certificate(s) of a client CA container; the CRL for a CRL container."""
        certs = join_pem(self.certificate, self.intermediates)
        return certs or join_pem(self.crl)

    def crl_pem(self) -> bytes:
        return join_pem(self.crl)


def join_pem(*parts: bytes) -> bytes:
    # Each PEM part ends in a newline so concatenated blocks never run into one another.
    return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts if p)


def crl_of(bundle: TlsBundle, ref: str) -> bytes:
    """`get_crl` for every manager: the bundle's CRL, or CertificateRetrievalError when `ref` holds none."""
    crl = bundle.crl_pem()
    if not crl:
        raise CertificateRetrievalError([ref])
    return crl


class CertManager(Protocol):
    def get(self, ref: str, project_id: str | None) -> TlsBundle:
        """The bundle behind `ref`, if `project_id` owns it (None: any project, for admins and the worker).

        Raises CertificateRetrievalError for an unknown, foreign or unreadable ref.
        """
        ...

    def get_crl(self, ref: str, project_id: str | None) -> bytes:
        """The PEM CRL of a CRL container; CertificateRetrievalError if `ref` holds none."""
        ...

    def grant_access(self, ref: str, project_id: str | None, auth_token: str | None) -> None:
        """Octavia's `set_acls`: with the caller's own token, let the controller read `ref` later.

        Called by the API before `get`. A manager whose `get` checks ownership itself does nothing here. Raises
        CertificateRetrievalError when the caller may not share the ref.
        """
        ...



class NoCertManager:
    """A deployment without a certificate manager: no ref resolves."""

    def get(self, ref: str, project_id: str | None) -> TlsBundle:
        raise CertificateRetrievalError([ref])

    def get_crl(self, ref: str, project_id: str | None) -> bytes:
        raise CertificateRetrievalError([ref])

    def grant_access(self, ref: str, project_id: str | None, auth_token: str | None) -> None:
        raise CertificateRetrievalError([ref])


__all__ = ["CertManager", "CertificateRetrievalError", "NoCertManager", "TlsBundle", "crl_of", "join_pem"]
