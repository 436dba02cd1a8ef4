"""Pure health monitor rules: type ↔ pool protocol (§3.2), HTTP-only fields, domain checks (§2.5)."""

from __future__ import annotations

import pytest

from ostia.domain import errors
from ostia.domain import rules_health_monitor as rules
from ostia.domain.enums import HealthMonitorType, PoolProtocol

LVS_ALLOWED = {"UDP-CONNECT", "SCTP", "TCP", "HTTP"}
HAPROXY_ALLOWED = {"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"}


@pytest.mark.parametrize("pool_protocol", list(PoolProtocol))
def test_type_matrix(pool_protocol: PoolProtocol) -> None:
    lvs = pool_protocol in ("UDP", "SCTP")
    for hm_type in HealthMonitorType:
        allowed = hm_type in (LVS_ALLOWED if lvs else HAPROXY_ALLOWED)
        if allowed:
            rules.check_type_for_pool(hm_type, pool_protocol, 10, 3)
            continue
        with pytest.raises(errors.ValidationFailure) as exc:
            rules.check_type_for_pool(hm_type, pool_protocol, 10, 3)
        if lvs:
            assert exc.value.message == (f"Validation failure: The associated pool protocol is {pool_protocol}, so "
                                         "only a UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported.")
        else:
            assert exc.value.message == \
                f"Validation failure: The {hm_type} type is only supported for pools of type UDP/SCTP."


def test_udp_connect_minimum_delay() -> None:
    rules.check_type_for_pool("UDP-CONNECT", "UDP", 3, 3)
    rules.check_udp_connect_delay("UDP-CONNECT", None, 3)  # PUT without a delay
    rules.check_udp_connect_delay("UDP-CONNECT", 0, -1)  # a negative minimum disables the check
    rules.check_udp_connect_delay("TCP", 0, 3)
    with pytest.raises(errors.ValidationFailure) as exc:
        rules.check_type_for_pool("UDP-CONNECT", "SCTP", 2, 3)
    assert exc.value.message == ("Validation failure: The request delay value 2 should be larger than 3 for "
                                 "UDP-CONNECT health monitor type.")


def test_ping_can_be_disabled() -> None:
    rules.check_type_allowed("PING", True)
    rules.check_type_allowed("TCP", False)
    with pytest.raises(errors.BadRequest) as exc:
        rules.check_type_allowed("PING", False)
    assert exc.value.message == "The selected type is not allowed in this deployment: PING"


def test_http_fields_only_on_http_monitors() -> None:
    rules.check_http_fields("HTTP", {"url_path": "/x"})
    rules.check_http_fields("HTTPS", {"http_method": None}, on_update=True)
    rules.check_http_fields("TCP", {"url_path": None})  # POST: an explicit null is no value
    for field in rules.HTTP_FIELDS:
        with pytest.raises(errors.InvalidOption) as exc:
            rules.check_http_fields("PING", {field: "x"})
        assert exc.value.message == f"{field} is not a valid option for health monitors of type PING"
        with pytest.raises(errors.InvalidOption):
            rules.check_http_fields("TLS-HELLO", {field: None}, on_update=True)


def test_domain_name_needs_http_1_1() -> None:
    rules.check_domain_name(None, None)
    rules.check_domain_name("example.com", 1.1)
    with pytest.raises(errors.ValidationFailure) as exc:
        rules.check_domain_name("example.com", None)
    assert exc.value.message == \
        "Validation failure: 'http_version' must be specified when 'domain_name' is provided."
    with pytest.raises(errors.InvalidOption) as exc2:
        rules.check_domain_name("example.com", 1.0)
    assert exc2.value.message == \
        "http_version 1.0 is not a valid option for health monitors HTTP 1.1 domain name health check"


def test_required_fields_cannot_be_cleared() -> None:
    rules.check_required_on_update({"delay": 1, "name": None, "max_retries_down": None})
    for field in ("delay", "timeout", "max_retries"):
        with pytest.raises(errors.InvalidOption) as exc:
            rules.check_required_on_update({field: None})
        assert exc.value.message == f"None is not a valid option for {field}"
