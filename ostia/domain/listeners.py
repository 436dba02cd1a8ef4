"""Listener rules that need no database (§2.2, §3.6–§3.9): defaults, header insertion, TLS cross-field
rules, HSTS, allowed CIDRs and the L4 families protocol ports are unique within.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from ostia.domain.enums import ClientAuthentication, ListenerProtocol
from ostia.domain.errors import InvalidOption, ValidationFailure

P = ListenerProtocol

DEFAULT_CONNECTION_LIMIT = -1
MAX_TIMEOUT = 2073600000  # ms (24 days)
DEFAULT_TIMEOUTS: dict[str, int] = {
    "timeout_client_data": 50000,
    "timeout_member_connect": 5000,
    "timeout_member_data": 50000,
    "timeout_tcp_inspect": 0,
}

# Ports are unique per L4 protocol on one LB: TCP 53 and UDP 53 may coexist, HTTP 80 and TCP 80 may not.
L4_FAMILY: dict[str, str] = {
    P.HTTP: "TCP", P.HTTPS: "TCP", P.TCP: "TCP", P.TERMINATED_HTTPS: "TCP", P.PROMETHEUS: "TCP",
    "PROXY": "TCP", "PROXYV2": "TCP", P.UDP: "UDP", P.SCTP: "SCTP",
}
LVS_PROTOCOLS = frozenset({P.UDP, P.SCTP})
# Listeners whose certificates the API accepts (PROMETHEUS may serve its metrics over TLS).
TLS_REF_PROTOCOLS = frozenset({P.TERMINATED_HTTPS, P.PROMETHEUS})
# Protocols whose listeners get the TLS defaults (ciphers, versions, ALPN) and may use HSTS.
TLS_TERMINATING = frozenset({P.TERMINATED_HTTPS})
# Only these take child objects (default pool, L7 policies); PROMETHEUS answers metrics itself.
NO_CHILDREN = frozenset({P.PROMETHEUS})

HTTP_HEADERS = ("X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Forwarded-IP", "X-Client-IP",
                "X-Real-IP")
SSL_HEADERS = ("X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN", "X-SSL-Client-CN",
               "X-SSL-Issuer", "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After")
HEADER_PROTOCOLS = frozenset({P.HTTP, P.TERMINATED_HTTPS})


def same_port_family(protocol_a: str, protocol_b: str) -> bool:
    return L4_FAMILY.get(protocol_a) == L4_FAMILY.get(protocol_b)


def check_insert_headers(headers: Mapping[str, str] | None, protocol: str) -> None:
    """§3.6: HTTP/TERMINATED_HTTPS only, known names only, client-certificate headers only when terminating."""
    if not headers:
        return
    if protocol not in HEADER_PROTOCOLS:
        raise InvalidOption("insert-headers", f"a {protocol} protocol listener.")
    names = list(headers)
    unknown = [n for n in names if n not in HTTP_HEADERS and n not in SSL_HEADERS]
    if unknown:
        raise InvalidOption(unknown, "insert_headers")
    if protocol != P.TERMINATED_HTTPS:
        ssl = [n for n in names if n in SSL_HEADERS]
        if ssl:
            raise InvalidOption(ssl, f"{protocol} protocol listener.")


def check_lvs_protocol(protocol: str, has_tls_refs: bool) -> None:
    """UDP/SCTP listeners are served by LVS: no TLS at all (§3.8)."""
    if protocol in LVS_PROTOCOLS and has_tls_refs:
        raise ValidationFailure(f"{protocol} protocol listener does not support TLS.")


def check_tls_refs(protocol: str, default_ref: str | None, sni_refs: Iterable[str] | None, ca_ref: str | None,
                   crl_ref: str | None, client_authentication: str | None) -> None:
    """§3.7 cross-field rules over the effective (stored + requested) values. Refs are not resolved here."""
    server_cert = bool(default_ref) or bool(list(sni_refs or []))
    any_ref = server_cert or bool(ca_ref) or bool(crl_ref)
    check_lvs_protocol(protocol, any_ref)
    if any_ref and protocol not in TLS_REF_PROTOCOLS:
        raise ValidationFailure("Certificate container references are only allowed on TERMINATED_HTTPS protocol "
                                "listeners.")
    if ca_ref and not server_cert:
        raise ValidationFailure("An SNI or default certificate container reference must be provided with a "
                                "client CA container reference.")
    if protocol == P.TERMINATED_HTTPS and not server_cert:
        raise ValidationFailure("An SNI or default certificate container reference must be provided for "
                                "TERMINATED_HTTPS protocol listeners.")
    auth = client_authentication or ClientAuthentication.NONE
    if auth != ClientAuthentication.NONE and not ca_ref:
        raise ValidationFailure(f"Client authentication setting {auth} requires a client CA container reference.")
    if crl_ref and not ca_ref:
        raise ValidationFailure("A client authentication CA reference is required to specify a client "
                                "authentication revocation list.")


HSTS_ONLY_TERMINATED = "The HSTS feature can only be used for listeners using the TERMINATED_HTTPS protocol."


def check_hsts(protocol: str, max_age: int | None, include_subdomains: bool, preload: bool) -> None:
    """At create: the flags need a max age, and HSTS needs a TLS-terminating listener."""
    if (include_subdomains or preload) and max_age is None:
        raise ValidationFailure("HSTS configuration options hsts_include_subdomains and hsts_preload only make "
                                "sense if hsts_max_age is set as well.")
    if max_age is not None and protocol != P.TERMINATED_HTTPS:
        raise ValidationFailure(HSTS_ONLY_TERMINATED)


def check_hsts_update(protocol: str, stored_max_age: int | None, changes: Mapping[str, object]) -> None:
    """On update: enabling a flag needs a max age (stored or new); a new max age needs TERMINATED_HTTPS."""
    new_max_age = changes.get("hsts_max_age")
    if (changes.get("hsts_include_subdomains") or changes.get("hsts_preload")) and \
            stored_max_age is None and new_max_age is None:
        raise ValidationFailure("Cannot enable hsts_include_subdomains or hsts_preload if hsts_max_age was not "
                                "set as well.")
    if new_max_age is not None and protocol != P.TERMINATED_HTTPS:
        raise ValidationFailure(HSTS_ONLY_TERMINATED)


ALLOWED_CIDRS_WITH_VIP_SGS = "Allowed CIDRs are not allowed when using custom VIP Security Groups."


def check_allowed_cidrs(cidrs: Iterable[str], vips: Iterable[tuple[str, int]], has_vip_sgs: bool) -> None:
    """Each CIDR must match the IP version of at least one VIP; custom VIP security groups exclude CIDRs.

    `vips` are (address, IP version) pairs; before the address is allocated the caller may name the VIP
    subnet instead.
    """
    cidrs = list(cidrs)
    if not cidrs:
        return
    if has_vip_sgs:
        raise ValidationFailure(ALLOWED_CIDRS_WITH_VIP_SGS)
    vips = list(vips)
    versions = {version for _, version in vips}
    if not versions:
        return  # nothing known to compare with (unknown subnet under the noop network driver)
    for cidr in cidrs:
        if ipaddress.ip_network(cidr, strict=False).version not in versions:
            if len(vips) == 1:
                raise ValidationFailure(f"CIDR {cidr} IP version incompatible with VIP {vips[0][0]} IP version.")
            raise ValidationFailure(f"CIDR {cidr} IP version incompatible with all VIPs "
                                    f"{', '.join(v for v, _ in vips)} IP version.")
