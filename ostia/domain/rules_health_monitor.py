"""Health monitor rules with no I/O (§2.5, §3.2): type ↔ pool protocol, HTTP-only fields, domain checks."""

from __future__ import annotations

from typing import Any

from ostia.domain import errors
from ostia.domain.enums import HealthMonitorType, HttpMethod
from ostia.domain.rules_pool import LVS_PROTOCOLS

T = HealthMonitorType
HTTP_TYPES = frozenset({T.HTTP, T.HTTPS})
HTTP_FIELDS = ("http_method", "url_path", "expected_codes")
# UDP and SCTP pools are checked by LVS; it can only run these kinds of check.
LVS_TYPES = (T.UDP_CONNECT, T.SCTP, T.TCP, T.HTTP)
LVS_ONLY_TYPES = frozenset({T.UDP_CONNECT, T.SCTP})

DEFAULT_HTTP_METHOD = HttpMethod.GET
DEFAULT_URL_PATH = "/"
DEFAULT_EXPECTED_CODES = "200"
DEFAULT_MAX_RETRIES_DOWN = 3
HTTP_DEFAULTS = {"http_method": DEFAULT_HTTP_METHOD.value, "url_path": DEFAULT_URL_PATH,
                 "expected_codes": DEFAULT_EXPECTED_CODES}


def check_type_allowed(hm_type: str, allow_ping: bool) -> None:
    if hm_type == T.PING and not allow_ping:
        raise errors.BadRequest(f"The selected type is not allowed in this deployment: {T.PING}")


def check_type_for_pool(hm_type: str, pool_protocol: str, delay: int | None, udp_min_delay: int) -> None:
    if pool_protocol in LVS_PROTOCOLS:
        if hm_type not in LVS_TYPES:
            raise errors.ValidationFailure(
                f"The associated pool protocol is {pool_protocol}, so only a "
                f"{'/'.join(t.value for t in LVS_TYPES)} health monitor is supported.")
    elif hm_type in LVS_ONLY_TYPES:
        raise errors.ValidationFailure(f"The {hm_type} type is only supported for pools of type UDP/SCTP.")
    check_udp_connect_delay(hm_type, delay, udp_min_delay)


def check_udp_connect_delay(hm_type: str, delay: int | None, udp_min_delay: int) -> None:
    if hm_type == T.UDP_CONNECT and delay is not None and udp_min_delay >= 0 and delay < udp_min_delay:
        raise errors.ValidationFailure(
            f"The request delay value {delay} should be larger than {udp_min_delay} for {T.UDP_CONNECT} "
            "health monitor type.")


def check_http_fields(hm_type: str, given: dict[str, Any], on_update: bool = False) -> None:
    """http_method/url_path/expected_codes belong to HTTP(S) monitors only.

    On POST a field counts when it has a value; on PUT merely naming it (even as null) is refused.
    """
    if hm_type in HTTP_TYPES:
        return
    for field in HTTP_FIELDS:
        if field in given and (on_update or given[field]):
            raise errors.InvalidOption(field, f"health monitors of type {hm_type}")


def check_domain_name(domain_name: str | None, http_version: float | None) -> None:
    if not domain_name:
        return
    if not http_version:
        raise errors.ValidationFailure("'http_version' must be specified when 'domain_name' is provided.")
    if http_version < 1.1:
        raise errors.InvalidOption(f"http_version {http_version}", "health monitors HTTP 1.1 domain name health check")


def check_required_on_update(changes: dict[str, Any]) -> None:
    """PUT may not clear delay, timeout or max_retries."""
    for field in ("delay", "max_retries", "timeout"):
        if field in changes and changes[field] is None:
            raise errors.InvalidOption(None, field)
