"""Pure L7 rules (ostia.domain.l7): rule matrix, policy action sanitising, redirect URLs, positions."""

from __future__ import annotations

from typing import Any

import pytest

from ostia.domain import l7
from ostia.domain.errors import BadRequest

PREFIX = "Error parsing L7Rule: Invalid L7 Rule: "


@pytest.mark.parametrize(("rule_type", "compare", "key", "value"), [
    ("HOST_NAME", "STARTS_WITH", None, "api."),
    ("PATH", "CONTAINS", None, "/v1/"),
    ("PATH", "REGEX", None, r"^/a\s+b$"),
    ("FILE_TYPE", "REGEX", None, "jpe?g"),
    ("FILE_TYPE", "EQUAL_TO", None, "png"),
    ("HEADER", "EQUAL_TO", "X-Forwarded-Proto", "https"),
    ("HEADER", "EQUAL_TO", "X-Q", '"two words\tand a tab"'),
    ("HEADER", "ENDS_WITH", "User-Agent", 'x"y\\z'),
    ("COOKIE", "EQUAL_TO", "sid", "abc-123"),
    ("SSL_CONN_HAS_CERT", "EQUAL_TO", None, "True"),
    ("SSL_VERIFY_RESULT", "EQUAL_TO", None, "21"),
    ("SSL_DN_FIELD", "STARTS_WITH", "CN", "www"),
    ("SSL_DN_FIELD", "REGEX", "Email-Address", ".*@example.com"),
    ("PATH", "EQUAL_TO", "ignored-key", "/k"),  # a key on a type that does not use one is harmless
])
def test_valid_rules_pass(rule_type: str, compare: str, key: str | None, value: str) -> None:
    l7.check_rule(rule_type, compare, key, value)


@pytest.mark.parametrize(("rule_type", "compare", "key", "value", "why"), [
    ("PATH", "EQUAL_TO", None, None, "L7 rule type requires a value"),
    ("HEADER", "EQUAL_TO", "", "v", "L7 rule type requires a key"),
    ("HEADER", "EQUAL_TO", "a,b", "v", "Invalid characters in key"),
    ("HEADER", "EQUAL_TO", "k", "a b", "Invalid characters in header value"),
    ("HEADER", "EQUAL_TO", "k", '"unbalanced', None),  # '"' is a plain header character: fine
    ("HEADER", None, "k", "v", "invalid comparison type for rule type"),
    ("COOKIE", "CONTAINS", "k", 'a"b', "Invalid characters in cookie value"),
    ("COOKIE", "CONTAINS", "k", "a\\b", "Invalid characters in cookie value"),
    ("COOKIE", "CONTAINS", "k", "a;b", "Invalid characters in cookie value"),
    ("PATH", "EQUAL_TO", None, "a\nb", "Invalid characters in value"),
    ("PATH", "REGEX", None, "a\rb", "Invalid characters in value"),
    ("HEADER", "REGEX", "X\nY", "v", "Invalid characters in key"),
    ("HOST_NAME", "EQUAL_TO", None, "caf\u00e9", "Invalid characters in comparison value"),
    ("FILE_TYPE", "CONTAINS", None, "jpg", "invalid comparison type for rule type"),
    ("SSL_CONN_HAS_CERT", "EQUAL_TO", None, "yes", "L7rule value yes is not a boolean True string."),
    ("SSL_VERIFY_RESULT", "EQUAL_TO", None, "\u00b2", "L7rule type SSL_VERIFY_RESULT needs a int value, which is >= 0"),
    ("SSL_VERIFY_RESULT", "EQUAL_TO", "k", "1", 'L7rule type SSL_VERIFY_RESULT does not use the "key" field.'),
    ("SSL_DN_FIELD", "EQUAL_TO", "C_N", "x", "Invalid L7rule distinguished name field."),
    ("QUERY", "EQUAL_TO", None, "x", "invalid rule type"),
])
def test_invalid_rules_name_the_reason(rule_type: str, compare: str | None, key: str | None, value: str | None,
                                       why: str | None) -> None:
    if why is None:
        l7.check_rule(rule_type, compare, key, value)
        return
    with pytest.raises(BadRequest) as err:
        l7.check_rule(rule_type, compare, key, value)
    assert err.value.status_code == 400
    assert err.value.message == PREFIX + why


def test_bad_regex_reports_the_parser_error() -> None:
    with pytest.raises(BadRequest) as err:
        l7.check_rule("PATH", "REGEX", None, "*a")
    assert err.value.message == PREFIX + "Unable to parse regular expression: nothing to repeat at position 0"
    with pytest.raises(BadRequest) as err:
        l7.check_rule("PATH", "REGEX", None, "(?P<x>")
    assert err.value.message.startswith(PREFIX + "Unable to parse regular expression: ")


@pytest.mark.parametrize(("url", "ok"), [
    ("http://example.com", True), ("https://example.com:8443/a/b?c=d#e", True), ("HTTP://EXAMPLE.COM", True),
    ("https://[2001:db8::1]/x", True), ("http://user@host/%20", True),
    ("ftp://example.com", False), ("example.com/path", False), ("/relative", False), ("http://", False),
    ("http://exa mple.com", False), ("http://example.com/\x00", False), ("http://example.com:99999", False),
    ("http://example.com/\u00e9", False), ("", False),
])
def test_redirect_urls(url: str, ok: bool) -> None:
    assert l7.valid_redirect_url(url) is ok


def _fields(**given: Any) -> dict[str, Any]:
    base = dict.fromkeys(("action", "redirect_pool_id", "redirect_url", "redirect_prefix", "redirect_http_code"))
    return {**base, **given}


@pytest.mark.parametrize(("given", "expected"), [
    (_fields(action="REJECT", redirect_http_code=301),
     {"action": "REJECT", "redirect_pool_id": None, "redirect_url": None, "redirect_http_code": 301}),
    (_fields(action="REDIRECT_TO_URL", redirect_url="http://a"),
     {"action": "REDIRECT_TO_URL", "redirect_url": "http://a", "redirect_http_code": 302}),
    (_fields(action="REDIRECT_TO_URL", redirect_url="http://a", redirect_http_code=307),
     {"redirect_http_code": 307}),
    (_fields(action="REDIRECT_TO_POOL", redirect_pool_id="p", redirect_http_code=301),
     {"action": "REDIRECT_TO_POOL", "redirect_pool_id": "p", "redirect_http_code": None}),
    # REDIRECT_TO_POOL ignores a stray URL (it clears it before the conflict check), as Octavia does.
    (_fields(action="REDIRECT_TO_POOL", redirect_pool_id="p", redirect_url="http://a"),
     {"action": "REDIRECT_TO_POOL", "redirect_url": None}),
    (_fields(action="REDIRECT_PREFIX", redirect_prefix="http://a"),
     {"action": "REDIRECT_PREFIX", "redirect_prefix": "http://a", "redirect_http_code": 302}),
    # A REJECT with a prefix becomes a prefix redirect.
    (_fields(action="REJECT", redirect_prefix="http://a"), {"action": "REDIRECT_PREFIX"}),
])
def test_sanitize_on_create(given: dict[str, Any], expected: dict[str, Any]) -> None:
    out = l7.sanitize_policy(given, create=True)
    assert {k: out[k] for k in expected} == expected


@pytest.mark.parametrize(("given", "message"), [
    (_fields(action="REDIRECT_TO_URL"), "Invalid L7 Policy arguments: redirect_url must not be None"),
    (_fields(action="REDIRECT_PREFIX"), "Invalid L7 Policy arguments: redirect_prefix must not be None"),
    (_fields(action="REDIRECT_TO_POOL"),
     "Invalid L7 Policy arguments: redirect_pool_id or redirect_pool must not be None"),
    (_fields(action="REDIRECT_PREFIX", redirect_prefix="http://a", redirect_pool_id="p"),
     "Invalid L7 Policy arguments: Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the "
     "same time"),
    (_fields(action="DROP"), "Invalid L7 Policy action specified: DROP"),
    (_fields(), "Invalid L7 Policy action specified: None"),
])
def test_sanitize_refuses(given: dict[str, Any], message: str) -> None:
    if "action" in given and given["action"] is None:
        given = {k: v for k, v in given.items() if k != "action"}
    with pytest.raises(BadRequest) as err:
        l7.sanitize_policy(given, create=True)
    assert err.value.message == message


def test_sanitize_on_update_switches_action_and_rejects_empty() -> None:
    assert l7.sanitize_policy({"redirect_pool_id": "p"}, create=False) == {
        "action": "REDIRECT_TO_POOL", "redirect_pool_id": "p", "redirect_url": None, "redirect_prefix": None,
        "redirect_http_code": None}
    assert l7.sanitize_policy({"name": "x"}, create=False) == {"name": "x"}
    with pytest.raises(BadRequest) as err:
        l7.sanitize_policy({}, create=False)
    assert err.value.message == "Invalid L7 Policy arguments: Invalid update options"
    assert set(l7.UNUSED_BY_ACTION["REJECT"]) == {"redirect_url", "redirect_pool_id", "redirect_prefix",
                                                  "redirect_http_code"}


def test_reposition_inserts_moves_and_appends() -> None:
    assert l7.reposition(["a", "b", "c", "n"], "n", 1) == ["n", "a", "b", "c"]
    assert l7.reposition(["a", "b", "c", "n"], "n", 2) == ["a", "n", "b", "c"]
    assert l7.reposition(["a", "b", "c", "n"], "n", l7.MAX_POSITION) == ["a", "b", "c", "n"]
    assert l7.reposition(["a", "b", "c"], "a", 3) == ["b", "c", "a"]
    assert l7.reposition(["a", "b", "c"], "c", 1) == ["c", "a", "b"]
