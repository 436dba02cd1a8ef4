"""TLS options of `bind` lines (TERMINATED_HTTPS listeners) and `server` lines (pools with tls_enabled).

Stored cipher strings that are not plain OpenSSL cipher syntax fall back to the defaults (Octavia does the same
at render time); `no-<version>` is emitted for every version not in the allowed list.
"""

from __future__ import annotations

from ostia.domain.enums import ClientAuthentication
from ostia.domain.spec import ListenerTlsSpec, PoolTlsSpec
from ostia.domain.tls import ALPN_PROTOCOLS, DEFAULT_CIPHERS, cipher_string_ok
from ostia.render.quoting import quote

_NO_VERSION: dict[str, str] = {"SSLv3": "no-sslv3", "TLSv1": "no-tlsv10", "TLSv1.1": "no-tlsv11",
                               "TLSv1.2": "no-tlsv12", "TLSv1.3": "no-tlsv13"}
_VERIFY: dict[str, str] = {ClientAuthentication.NONE: "none", ClientAuthentication.OPTIONAL: "optional",
           ClientAuthentication.MANDATORY: "required"}


def _ciphers(ciphers: str | None) -> str:
    return ciphers if ciphers and cipher_string_ok(ciphers) else DEFAULT_CIPHERS


def _common(ciphers: str | None, versions: tuple[str, ...], alpn: tuple[str, ...]) -> list[str]:
    opts = ["ciphers", quote(_ciphers(ciphers))]
    if versions:
        # SSLv3 is absent from this OpenSSL build: HAProxy warns about `no-sslv3`, and it is off anyway.
        opts += [flag for v, flag in _NO_VERSION.items() if v not in versions and v != "SSLv3"]
    protocols = [p for p in alpn if p in ALPN_PROTOCOLS]
    if protocols:
        opts += ["alpn", ",".join(protocols)]
    return opts


def bind_tls_options(tls: ListenerTlsSpec) -> str:
    opts = ["ssl", "crt-list", quote(tls.crt_list_path)]
    if tls.client_ca_path:
        opts += ["ca-file", quote(tls.client_ca_path), "verify", _VERIFY.get(tls.client_authentication, "none")]
        if tls.client_crl_path:
            opts += ["crl-file", quote(tls.client_crl_path)]
    opts += _common(tls.ciphers, tls.versions, tls.alpn_protocols)
    return " " + " ".join(opts)


def server_tls_options(tls: PoolTlsSpec, listener_terminates_tls: bool) -> str:
    opts = ["ssl"]
    if tls.client_cert_path:
        opts += ["crt", quote(tls.client_cert_path)]
    if tls.ca_path:
        opts += ["ca-file", quote(tls.ca_path)]
        if tls.crl_path:
            opts += ["crl-file", quote(tls.crl_path)]
        opts += ["verify", "required"]
    else:
        opts += ["verify", "none"]
    if listener_terminates_tls:
        # Pass the client's SNI on, so members behind a TLS-terminating listener see the name asked for.
        opts += ["sni", "ssl_fc_sni"]
    opts += _common(tls.ciphers, tls.versions, tls.alpn_protocols)
    return " " + " ".join(opts)

