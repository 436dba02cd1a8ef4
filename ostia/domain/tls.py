"""TLS settings of listeners and pools (§3.7): defaults and the checks the API applies to them.

Pure functions: the API calls them on request values, the worker/renderer may call them on stored ones
(e.g. to fall back to the defaults when a stored value no longer passes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ostia.domain.errors import ValidationFailure

DEFAULT_CIPHERS = (
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305")
DEFAULT_TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")
DEFAULT_ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")

# Oldest first: the order `minimum_tls_version` compares in.
TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")

# OpenSSL cipher-string characters; anything else could end up as HAProxy config syntax.
CIPHER_PATTERN = r"^[A-Za-z0-9\-+!:@=_.]*$"
_CIPHER_RE = re.compile(r"\A[A-Za-z0-9\-+!:@=_.]*\Z")


def cipher_string_ok(ciphers: str) -> bool:
    return bool(_CIPHER_RE.match(ciphers))


def prohibited_ciphers(ciphers: str, prohibit_list: str) -> list[str]:
    """The ciphers of `ciphers` (colon separated) that the operator's colon separated list forbids."""
    banned = {c for c in prohibit_list.split(":") if c}
    return [c for c in ciphers.split(":") if c in banned]


def check_ciphers(ciphers: str | None, prohibit_list: str) -> None:
    if not ciphers:
        return
    rejected = prohibited_ciphers(ciphers, prohibit_list)
    if rejected:
        raise ValidationFailure("The following ciphers have been prohibited by an administrator: "
                                + ", ".join(rejected))


def _check_named(values: list[str], known: tuple[str, ...], name: str, invalid: str) -> None:
    """An empty list would mean "none at all", so it is refused; every entry must be a known name."""
    if not values:
        raise ValidationFailure(f"Empty {name} list. Either specify at least one {name} or remove this "
                                "parameter to use the default.")
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValidationFailure(f"{invalid}: " + ", ".join(unknown))


def check_tls_versions(versions: list[str] | None, minimum: str | None = None) -> None:
    """400 for `[]`, unknown names, or versions older than the configured minimum; None means "default"."""
    if versions is None:
        return
    _check_named(versions, TLS_VERSIONS, "TLS version", "Invalid TLS versions")
    if minimum:
        floor = TLS_VERSIONS.index(minimum)
        older = [v for v in versions if TLS_VERSIONS.index(v) < floor]
        if older:
            raise ValidationFailure("Requested TLS versions are less than the minimum: " + ", ".join(older)
                                    + " < " + minimum)


def check_alpn_protocols(protocols: list[str] | None) -> None:
    if protocols is None:
        return
    _check_named(protocols, ALPN_PROTOCOLS, "ALPN protocol", "Invalid ALPN protocol")


def dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
