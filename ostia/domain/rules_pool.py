"""Pool rules with no I/O: session persistence (§3.5), CA/CRL references (§3.7), provider algorithms.

The TLS version/ALPN/cipher checks shared with listeners live in `ostia.domain.tls`.

Every function raises an error from `ostia.domain.errors` with Octavia's wording, or returns normally.
"""

from __future__ import annotations

import re
from typing import Any

from ostia.domain import errors, providers
from ostia.domain.enums import LbAlgorithm, PoolProtocol, SessionPersistenceType

# Pools whose traffic is handled by LVS (keepalived) rather than HAProxy: restricted persistence and HMs.
LVS_PROTOCOLS = frozenset({PoolProtocol.UDP, PoolProtocol.SCTP})
SESSION_PERSISTENCE_KEYS = ("type", "cookie_name", "persistence_timeout", "persistence_granularity")

# Whitespace, control characters, DEL and the HTTP separators may not appear in a cookie name.
_BAD_COOKIE_NAME = re.compile(r'[\x00-\x20"(),/:;<=>?@\[\\\]{}\x7f]')
# Amphora (HAProxy) cannot hash on source port.
AMPHORA_ALGORITHMS = frozenset({LbAlgorithm.ROUND_ROBIN, LbAlgorithm.LEAST_CONNECTIONS, LbAlgorithm.SOURCE_IP})


def check_session_persistence(pool_protocol: str, sp: dict[str, Any]) -> None:
    """Validate a session persistence object (all four keys present, absent ones None) for a pool protocol."""
    sp_type = sp.get("type")
    cookie_name = sp.get("cookie_name")
    if pool_protocol in LVS_PROTOCOLS:
        if sp_type == SessionPersistenceType.SOURCE_IP and cookie_name:
            raise errors.ValidationFailure(
                "session_persistence SOURCE_IP type for UDP and SCTP protocols only accepts: type, "
                "persistence_timeout, persistence_granularity.")
        if cookie_name:
            raise errors.ValidationFailure("Cookie names are not supported for UDP/SCTP pools.")
        if sp_type in (SessionPersistenceType.HTTP_COOKIE, SessionPersistenceType.APP_COOKIE):
            raise errors.ValidationFailure(
                f"Session persistence of type {sp_type} is not supported for UDP/SCTP protocol pools.")
    elif sp.get("persistence_timeout") or sp.get("persistence_granularity"):
        raise errors.ValidationFailure(
            "persistence_timeout and persistence_granularity is only for UDP and SCTP protocol pools.")
    if sp_type is None:
        raise errors.ValidationFailure("Invalid session_persistence provided.")
    if cookie_name:
        if sp_type != SessionPersistenceType.APP_COOKIE:
            raise errors.ValidationFailure(
                'Field "cookie_name" can only be specified with session persistence of type "APP_COOKIE".')
        if _BAD_COOKIE_NAME.search(cookie_name):
            raise errors.ValidationFailure('Supplied "cookie_name" is invalid.')
    elif sp_type == SessionPersistenceType.APP_COOKIE:
        raise errors.ValidationFailure(
            'Field "cookie_name" must be specified when using the "APP_COOKIE" session persistence type.')


def normalize_session_persistence(sp: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored (and wire) form: all four keys, or None."""
    if sp is None:
        return None
    return {key: sp.get(key) for key in SESSION_PERSISTENCE_KEYS}


def merge_session_persistence(stored: dict[str, Any] | None, update: dict[str, Any]) -> dict[str, Any]:
    """PUT: the object replaces the stored one, except that a missing `type` keeps the stored type."""
    merged = normalize_session_persistence(update) or {}
    if merged.get("type") is None and stored:
        merged["type"] = stored.get("type")
    return merged


def check_ca_and_crl(ca_ref: str | None, crl_ref: str | None) -> None:
    if crl_ref and not ca_ref:
        raise errors.ValidationFailure("A CA certificate reference is required to specify a revocation list.")


def check_ca_and_crl_update(stored_ca: str | None, stored_crl: str | None, changes: dict[str, Any]) -> None:
    """PUT: the CA may not go away while a CRL stays, and a new CRL needs a CA (stored or given)."""
    crl = changes.get("crl_container_ref", stored_crl)
    if "ca_tls_container_ref" in changes and not changes["ca_tls_container_ref"]:
        if crl and stored_ca:
            raise errors.ValidationFailure(
                "A CA reference cannot be removed when a certificate revocation list is present.")
        if crl:
            raise errors.ValidationFailure("A CA reference is required to specify a certificate revocation list.")
        return
    ca = changes.get("ca_tls_container_ref") or stored_ca
    if crl and not ca:
        raise errors.ValidationFailure("A CA reference is required to specify a certificate revocation list.")


def check_algorithm(provider: str | None, algorithm: str) -> None:
    """501 when the provider cannot balance with the algorithm (amphora: no SOURCE_IP_PORT)."""
    if providers.canonical(provider or providers.AMPHORA) == providers.AMPHORA and algorithm not in AMPHORA_ALGORITHMS:
        raise errors.ProviderNotSupported(provider or providers.AMPHORA,
                                          f"Amphora provider does not support {algorithm} algorithm.")
