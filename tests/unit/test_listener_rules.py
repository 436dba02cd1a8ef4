"""Pure listener and TLS rules (ostia.domain.listeners, ostia.domain.tls)."""

from __future__ import annotations

from typing import Any

import pytest

from ostia.domain import listeners, tls
from ostia.domain.errors import BadRequest


def message(fn: Any, *args: Any) -> str:
    with pytest.raises(BadRequest) as err:
        fn(*args)
    assert err.value.status_code == 400
    return err.value.message


def test_port_families() -> None:
    for a, b in (("HTTP", "TCP"), ("HTTPS", "TERMINATED_HTTPS"), ("PROMETHEUS", "HTTP"), ("UDP", "UDP")):
        assert listeners.same_port_family(a, b)
    for a, b in (("TCP", "UDP"), ("UDP", "SCTP"), ("SCTP", "HTTP")):
        assert not listeners.same_port_family(a, b)


def test_insert_headers() -> None:
    listeners.check_insert_headers(None, "TCP")
    listeners.check_insert_headers({}, "UDP")
    listeners.check_insert_headers({"X-Forwarded-For": "true", "X-Real-IP": "true"}, "HTTP")
    listeners.check_insert_headers({"X-SSL-Client-DN": "true", "X-Forwarded-Proto": "true"}, "TERMINATED_HTTPS")
    assert message(listeners.check_insert_headers, {"X-Forwarded-For": "true"}, "HTTPS") == \
        "insert-headers is not a valid option for a HTTPS protocol listener."
    assert message(listeners.check_insert_headers, {"X-Forwarded-For": "true", "Bad": "1"}, "HTTP") == \
        "['Bad'] is not a valid option for insert_headers"
    assert message(listeners.check_insert_headers, {"X-SSL-Issuer": "true"}, "HTTP") == \
        "['X-SSL-Issuer'] is not a valid option for HTTP protocol listener."


@pytest.mark.parametrize(("args", "why"), [
    (("UDP", None, [], "ca", None, None), "UDP protocol listener does not support TLS."),
    (("TCP", "c", None, None, None, None),
     "Certificate container references are only allowed on TERMINATED_HTTPS protocol listeners."),
    (("TERMINATED_HTTPS", None, [], None, None, None),
     "An SNI or default certificate container reference must be provided for TERMINATED_HTTPS protocol "
     "listeners."),
    (("TERMINATED_HTTPS", None, None, "ca", None, None),
     "An SNI or default certificate container reference must be provided with a client CA container "
     "reference."),
    (("TERMINATED_HTTPS", "c", None, None, None, "OPTIONAL"),
     "Client authentication setting OPTIONAL requires a client CA container reference."),
    (("HTTP", None, None, None, None, "MANDATORY"),
     "Client authentication setting MANDATORY requires a client CA container reference."),
    (("TERMINATED_HTTPS", None, ["s"], None, "crl", "NONE"),
     "A client authentication CA reference is required to specify a client authentication revocation list."),
])
def test_tls_ref_rules(args: tuple[Any, ...], why: str) -> None:
    assert message(listeners.check_tls_refs, *args) == f"Validation failure: {why}"


def test_tls_refs_accepted() -> None:
    listeners.check_tls_refs("HTTP", None, None, None, None, None)
    listeners.check_tls_refs("TERMINATED_HTTPS", None, ["s1"], "ca", "crl", "MANDATORY")
    listeners.check_tls_refs("PROMETHEUS", "c", None, None, None, "NONE")  # metrics over TLS
    listeners.check_tls_refs("PROMETHEUS", None, None, None, None, None)


def test_hsts() -> None:
    listeners.check_hsts("TERMINATED_HTTPS", 0, True, True)
    listeners.check_hsts("HTTP", None, False, False)
    assert message(listeners.check_hsts, "HTTP", 10, False, False) == (
        "Validation failure: The HSTS feature can only be used for listeners using the TERMINATED_HTTPS protocol.")
    assert message(listeners.check_hsts, "TERMINATED_HTTPS", None, False, True).startswith(
        "Validation failure: HSTS configuration options hsts_include_subdomains and hsts_preload only make sense")
    listeners.check_hsts_update("TERMINATED_HTTPS", 100, {"hsts_preload": True})
    listeners.check_hsts_update("TERMINATED_HTTPS", None, {"hsts_preload": True, "hsts_max_age": 5})
    listeners.check_hsts_update("HTTP", None, {"hsts_max_age": None})
    assert message(listeners.check_hsts_update, "TERMINATED_HTTPS", None, {"hsts_include_subdomains": True}) == (
        "Validation failure: Cannot enable hsts_include_subdomains or hsts_preload if hsts_max_age was not set "
        "as well.")
    assert message(listeners.check_hsts_update, "TCP", None, {"hsts_max_age": 1}).endswith(
        "only be used for listeners using the TERMINATED_HTTPS protocol.")


def test_allowed_cidrs() -> None:
    listeners.check_allowed_cidrs([], [], True)
    listeners.check_allowed_cidrs(["10.0.0.0/8"], [("192.0.2.1", 4)], False)
    listeners.check_allowed_cidrs(["2001:db8::/32", "10.0.0.0/8"], [("192.0.2.1", 4), ("2001:db8::1", 6)], False)
    listeners.check_allowed_cidrs(["2001:db8::/32"], [], False)  # nothing known yet
    assert message(listeners.check_allowed_cidrs, ["2001:db8::/32"], [("192.0.2.1", 4)], False) == (
        "Validation failure: CIDR 2001:db8::/32 IP version incompatible with VIP 192.0.2.1 IP version.")
    assert message(listeners.check_allowed_cidrs, ["::/0"], [("192.0.2.1", 4), ("198.51.100.0/24", 4)],
                   False) == ("Validation failure: CIDR ::/0 IP version incompatible with all VIPs 192.0.2.1, "
                              "198.51.100.0/24 IP version.")
    assert message(listeners.check_allowed_cidrs, ["10.0.0.0/8"], [("192.0.2.1", 4)], True) == (
        "Validation failure: Allowed CIDRs are not allowed when using custom VIP Security Groups.")


def test_tls_versions_alpn_and_ciphers() -> None:
    tls.check_tls_versions(None)
    tls.check_tls_versions(["TLSv1.2", "TLSv1.3"], "TLSv1.2")
    assert message(tls.check_tls_versions, []).startswith("Validation failure: Empty TLS version list.")
    assert message(tls.check_tls_versions, ["TLSv1.3", "TLSv2", "x"]) == \
        "Validation failure: Invalid TLS versions: TLSv2, x"
    assert message(tls.check_tls_versions, ["SSLv3", "TLSv1", "TLSv1.3"], "TLSv1.2") == (
        "Validation failure: Requested TLS versions are less than the minimum: SSLv3, TLSv1 < TLSv1.2")
    tls.check_alpn_protocols(None)
    tls.check_alpn_protocols(["http/1.0"])
    assert message(tls.check_alpn_protocols, []).startswith("Validation failure: Empty ALPN protocol list.")
    assert message(tls.check_alpn_protocols, ["h2", "spdy/3"]) == "Validation failure: Invalid ALPN protocol: spdy/3"
    tls.check_ciphers(None, "RC4")
    tls.check_ciphers(tls.DEFAULT_CIPHERS, "RC4-MD5:DES-CBC3-SHA")
    assert message(tls.check_ciphers, "ECDHE-RSA-AES128-GCM-SHA256:RC4-MD5:DES-CBC3-SHA", "RC4-MD5:DES-CBC3-SHA") \
        == "Validation failure: The following ciphers have been prohibited by an administrator: RC4-MD5, DES-CBC3-SHA"
    assert tls.cipher_string_ok(tls.DEFAULT_CIPHERS) and tls.cipher_string_ok("HIGH:!aNULL:@STRENGTH=1+x.y")
    assert not tls.cipher_string_ok("HIGH\n bind") and not tls.cipher_string_ok("A B")
    assert tls.dedupe(["b", "a", "b"]) == ["b", "a"]
