"""ssl contexts for both ends of the controller ↔ amphora channel, built from the CA's files.

The agent serves with `server_context` (its amphora certificate; a client certificate from the CA is
required), the amphora driver calls it through httpx with `client_context` (the controller certificate;
the agent must present a certificate from the CA whose name is the amphora id: pass the id as
`extensions={"sni_hostname": amphora_id}` on each httpx request).
"""

from __future__ import annotations

import os
import ssl
import time
from pathlib import Path
from typing import Protocol

StrPath = str | os.PathLike[str]


def server_context(cert_file: StrPath, key_file: StrPath, client_ca_file: StrPath) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    ctx.load_verify_locations(cafile=client_ca_file)
    ctx.verify_mode = ssl.CERT_REQUIRED  # no certificate, or one from another CA: the handshake fails
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    return ctx


def client_context(cert_file: StrPath, key_file: StrPath, server_ca_file: StrPath) -> ssl.SSLContext:
    # create_default_context: CERT_REQUIRED + hostname checking (against the SNI name, i.e. the amphora id)
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=server_ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default; our certificates satisfy it
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


class ReloadableServerContext:
    """A server context whose certificate and trusted CAs can be replaced while the server runs.

    Servers (uvicorn) keep the context they were started with. That one (`base`) only picks the latest context
    during each handshake (SNI callback; OpenSSL verifies the client with the picked context's CAs), so a new
    server certificate or a new CA bundle applies to new connections at once, and a CA can also be *dropped*,
    which adding CAs to one live context could never do. Open connections are left alone.
    """

    def __init__(self, cert_file: StrPath, key_file: StrPath, client_ca_file: StrPath) -> None:
        self._files = (cert_file, key_file, client_ca_file)
        self.live = server_context(*self._files)
        self.base = server_context(*self._files)
        self.base.sni_callback = self._pick

    def _pick(self, sock: ssl.SSLObject | ssl.SSLSocket, _name: str | None, _ctx: ssl.SSLContext) -> None:
        sock.context = self.live

    def reload(self) -> None:
        """Re-read the three files (raises ssl.SSLError when they do not fit together; nothing changes then)."""
        self.live = server_context(*self._files)
        self.base.load_cert_chain(self._files[0], self._files[1])  # for a client that sends no SNI at all


class _ControllerCA(Protocol):
    def rotation_stamp(self) -> tuple[int, ...]: ...

    def client_cert_files(self) -> tuple[Path, Path]: ...

    def trust_file(self) -> Path: ...


class ControllerTls:
    """The controller's client context, rebuilt when the CA rotates (another process may have rotated it) or
    its client certificate was renewed; checked on every agent call, which costs a few stat() calls."""

    RENEWAL_CHECK = 60.0  # seconds between checks that the client certificate is due for renewal

    def __init__(self, certs: _ControllerCA) -> None:
        self.certs = certs
        self._seen: tuple[int, ...] | None = None
        self._checked = -1e9

    def refresh(self) -> ssl.SSLContext | None:
        """A new context when something changed since the last call, else None."""
        stamp = self.certs.rotation_stamp()
        unchanged = self._seen is not None and self._seen[:len(stamp)] == stamp
        if unchanged and time.monotonic() - self._checked < self.RENEWAL_CHECK:
            return None
        self._checked = time.monotonic()
        cert, key = self.certs.client_cert_files()  # re-issued here when due, or when the CA changed
        trust = self.certs.trust_file()
        seen = (*self.certs.rotation_stamp(), *(v for p in (cert, trust) for v in _file_stamp(p)))
        if seen == self._seen:
            return None
        self._seen = seen
        return client_context(cert, key, trust)


def _file_stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns
