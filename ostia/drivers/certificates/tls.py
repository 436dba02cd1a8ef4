"""ssl contexts for both ends of the controller ↔ amphora channel, built from the CA's files.

The agent serves with `server_context` (its amphora certificate; a client certificate from the CA is
required), the amphora driver calls it through httpx with `client_context` (the controller certificate;
the agent must present a certificate from the CA whose name is the amphora id: pass the id as
`extensions={"sni_hostname": amphora_id}` on each httpx request).
"""

from __future__ import annotations

import os
import ssl

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
