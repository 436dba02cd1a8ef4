"""Pure pool rules: listener↔pool protocols (§3.1), session persistence (§3.5), CA/CRL, provider algorithms."""

from __future__ import annotations

from typing import Any

import pytest

from ostia.domain import errors, rules_pool
from ostia.domain.enums import ListenerProtocol, PoolProtocol
from ostia.domain.protocols import ALLOWED_POOL_PROTOCOLS, check_pool_protocol, pool_protocol_allowed


def test_protocol_table_matches_the_reference() -> None:
    expected = {
        "HTTP": {"HTTP", "PROXY", "PROXYV2"},
        "HTTPS": {"HTTPS", "PROXY", "PROXYV2", "TCP"},
        "TCP": {"HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"},
        "TERMINATED_HTTPS": {"HTTP", "PROXY", "PROXYV2"},
        "UDP": {"UDP"},
        "SCTP": {"SCTP"},
        "PROMETHEUS": set(),
    }
    assert {str(k): {str(p) for p in v} for k, v in ALLOWED_POOL_PROTOCOLS.items()} == expected
    assert set(ALLOWED_POOL_PROTOCOLS) == set(ListenerProtocol)
    for listener in ListenerProtocol:
        for pool in PoolProtocol:
            allowed = pool in expected[listener]
            assert pool_protocol_allowed(listener, pool) is allowed
            if allowed:
                check_pool_protocol(listener, pool)
            else:
                with pytest.raises(errors.ValidationFailure) as exc:
                    check_pool_protocol(listener, pool)
                assert exc.value.message == (f"Validation failure: The pool protocol '{pool}' is invalid while "
                                             f"the listener protocol is '{listener}'.")
    assert not pool_protocol_allowed("FTP", "HTTP")  # unknown listener protocols allow nothing


def sp(**values: Any) -> dict[str, Any]:
    return {key: values.get(key) for key in rules_pool.SESSION_PERSISTENCE_KEYS}


@pytest.mark.parametrize(("protocol", "persistence", "message"), [
    ("HTTP", sp(type="SOURCE_IP", cookie_name="c"),
     'Field "cookie_name" can only be specified with session persistence of type "APP_COOKIE".'),
    ("HTTP", sp(type="APP_COOKIE"),
     'Field "cookie_name" must be specified when using the "APP_COOKIE" session persistence type.'),
    ("HTTP", sp(type="APP_COOKIE", cookie_name='a"b'), 'Supplied "cookie_name" is invalid.'),
    ("TCP", sp(type="APP_COOKIE", cookie_name="a\tb"), 'Supplied "cookie_name" is invalid.'),
    ("HTTPS", sp(type="APP_COOKIE", cookie_name="x=y"), 'Supplied "cookie_name" is invalid.'),
    ("HTTP", sp(type="SOURCE_IP", persistence_granularity="255.255.255.0"),
     "persistence_timeout and persistence_granularity is only for UDP and SCTP protocol pools."),
    ("UDP", sp(type="SOURCE_IP", cookie_name="c"),
     "session_persistence SOURCE_IP type for UDP and SCTP protocols only accepts: type, persistence_timeout, "
     "persistence_granularity."),
    ("SCTP", sp(type="APP_COOKIE", cookie_name="c"), "Cookie names are not supported for UDP/SCTP pools."),
    ("UDP", sp(type="HTTP_COOKIE"),
     "Session persistence of type HTTP_COOKIE is not supported for UDP/SCTP protocol pools."),
    ("HTTP", sp(), "Invalid session_persistence provided."),
])
def test_session_persistence_refusals(protocol: str, persistence: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.ValidationFailure) as exc:
        rules_pool.check_session_persistence(protocol, persistence)
    assert exc.value.message == f"Validation failure: {message}"
    assert exc.value.status_code == 400


@pytest.mark.parametrize(("protocol", "persistence"), [
    ("HTTP", sp(type="APP_COOKIE", cookie_name="JSESSIONID")),
    ("HTTP", sp(type="HTTP_COOKIE")),
    ("PROXY", sp(type="SOURCE_IP")),
    ("UDP", sp(type="SOURCE_IP", persistence_timeout=60, persistence_granularity="255.255.0.0")),
    ("SCTP", sp(type="SOURCE_IP")),
])
def test_session_persistence_accepted(protocol: str, persistence: dict[str, Any]) -> None:
    rules_pool.check_session_persistence(protocol, persistence)


def test_session_persistence_put_merge_keeps_the_stored_type_only() -> None:
    stored = sp(type="APP_COOKIE", cookie_name="old")
    assert rules_pool.merge_session_persistence(stored, {"cookie_name": "new"}) == sp(type="APP_COOKIE",
                                                                                       cookie_name="new")
    assert rules_pool.merge_session_persistence(stored, {"type": "SOURCE_IP"}) == sp(type="SOURCE_IP")
    assert rules_pool.merge_session_persistence(None, {"cookie_name": "x"}) == sp(cookie_name="x")
    assert rules_pool.normalize_session_persistence(None) is None
    assert rules_pool.normalize_session_persistence({"type": "SOURCE_IP"}) == sp(type="SOURCE_IP")


def test_ca_and_crl_rules() -> None:
    rules_pool.check_ca_and_crl("ca", "crl")
    rules_pool.check_ca_and_crl(None, None)
    with pytest.raises(errors.ValidationFailure, match="A CA certificate reference is required"):
        rules_pool.check_ca_and_crl(None, "crl")
    rules_pool.check_ca_and_crl_update("ca", None, {"crl_container_ref": "crl"})
    rules_pool.check_ca_and_crl_update(None, None, {"ca_tls_container_ref": "ca", "crl_container_ref": "crl"})
    rules_pool.check_ca_and_crl_update("ca", "crl", {"ca_tls_container_ref": None, "crl_container_ref": None})
    with pytest.raises(errors.ValidationFailure, match="cannot be removed when a certificate revocation list"):
        rules_pool.check_ca_and_crl_update("ca", "crl", {"ca_tls_container_ref": None})
    with pytest.raises(errors.ValidationFailure, match="A CA reference is required to specify a certificate"):
        rules_pool.check_ca_and_crl_update(None, None, {"crl_container_ref": "crl"})


def test_amphora_refuses_source_ip_port_only() -> None:
    for provider in ("amphora", "octavia", None):
        with pytest.raises(errors.ProviderNotSupported) as exc:
            rules_pool.check_algorithm(provider, "SOURCE_IP_PORT")
        assert exc.value.status_code == 501
        assert exc.value.message == (f"Provider '{provider or 'amphora'}' does not support a requested "
                                     "action/option: Amphora provider does not support SOURCE_IP_PORT algorithm.")
        for algorithm in ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"):
            rules_pool.check_algorithm(provider, algorithm)
    rules_pool.check_algorithm("noop_driver", "SOURCE_IP_PORT")
