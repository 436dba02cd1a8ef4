"""L7 policy and rule rules that need no database (§3.3, §3.4).

`check_rule` validates one rule (the API on create and on the merged rule of an update); `sanitize_policy`
makes a policy's action and redirect fields consistent the way Octavia does (supplying only a redirect
field switches the action, the action clears the fields it does not use); `valid_redirect_url` is the
absolute http(s) URL test used for `redirect_url` and `redirect_prefix`.
"""

from __future__ import annotations

import re
import string
from typing import Any
from urllib.parse import urlsplit

from ostia.domain.enums import L7PolicyAction, L7RuleCompareType, L7RuleType
from ostia.domain.errors import BadRequest

A = L7PolicyAction
C = L7RuleCompareType
T = L7RuleType

MAX_RULES_PER_POLICY = 50
MIN_POSITION = 1
MAX_POSITION = 2147483647
REDIRECT_HTTP_CODES = (301, 302, 303, 307, 308)
DEFAULT_REDIRECT_HTTP_CODE = 302

_ALNUM = string.ascii_letters + string.digits
# RFC 7230 token: header and cookie names.
_TOKEN = re.compile(r"\A[" + re.escape(_ALNUM + "!#$%&'*+-.^_`|~") + r"]+\Z")
# Printable ASCII without space; or a double-quoted string that may also hold spaces and tabs.
_HEADER_VALUE = re.compile(r"\A[" + re.escape(_ALNUM + "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + r"]+\Z")
_QUOTED_HEADER_VALUE = re.compile(r'\A"[' + re.escape(_ALNUM + " \t!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + r']*"\Z')
# RFC 6265 cookie-octet: no '"', ',', ';', '\\' or space.
_COOKIE_VALUE = re.compile(r"\A[" + re.escape(_ALNUM + "!#$%&'()*+-./:<=>?@[]^_`{|}~") + r"]+\Z")
_DN_FIELD = re.compile(r"\A[a-zA-Z][A-Za-z0-9-]*\Z")
_NON_NEGATIVE_INT = re.compile(r"\A[0-9]+\Z")

_SUBSTRING_COMPARES = (C.STARTS_WITH, C.ENDS_WITH, C.CONTAINS, C.EQUAL_TO)


class InvalidL7Rule(BadRequest):
    def __init__(self, why: str) -> None:
        super().__init__(f"Error parsing L7Rule: Invalid L7 Rule: {why}")


class InvalidL7PolicyArgs(BadRequest):
    def __init__(self, why: str) -> None:
        super().__init__(f"Invalid L7 Policy arguments: {why}")


class InvalidL7PolicyAction(BadRequest):
    def __init__(self, action: object) -> None:
        super().__init__(f"Invalid L7 Policy action specified: {action}")


def header_value_ok(value: str) -> bool:
    return bool(_HEADER_VALUE.match(value) or _QUOTED_HEADER_VALUE.match(value))


def cookie_value_ok(value: str) -> bool:
    return bool(_COOKIE_VALUE.match(value))


def token_ok(value: str) -> bool:
    return bool(_TOKEN.match(value))


def _regex(value: str) -> None:
    try:
        re.compile(value)
    except (re.error, RecursionError, OverflowError) as exc:
        raise InvalidL7Rule(f"Unable to parse regular expression: {exc}") from None


def _value_by_compare(compare_type: str | None, value: str, charset_ok: Any, what: str) -> None:
    if compare_type == C.REGEX:
        _regex(value)
    elif compare_type in _SUBSTRING_COMPARES:
        if not charset_ok(value):
            raise InvalidL7Rule(f"Invalid characters in {what}")
    else:
        raise InvalidL7Rule("invalid comparison type for rule type")


def check_rule(rule_type: str | None, compare_type: str | None, key: str | None, value: str | None) -> None:
    """400 `Error parsing L7Rule: Invalid L7 Rule: <why>` unless the rule is internally consistent (§3.4)."""
    if not value:
        raise InvalidL7Rule("L7 rule type requires a value")
    for name, text in (("key", key), ("value", value)):
        if text and ("\r" in text or "\n" in text):
            raise InvalidL7Rule(f"Invalid characters in {name}")
    if rule_type in (T.HEADER, T.COOKIE):
        if not key:
            raise InvalidL7Rule("L7 rule type requires a key")
        if not token_ok(key):
            raise InvalidL7Rule("Invalid characters in key")
        if rule_type == T.HEADER:
            _value_by_compare(compare_type, value, header_value_ok, "header value")
        else:
            _value_by_compare(compare_type, value, cookie_value_ok, "cookie value")
    elif rule_type in (T.HOST_NAME, T.PATH):
        _value_by_compare(compare_type, value, header_value_ok, "comparison value")
    elif rule_type == T.FILE_TYPE:
        if compare_type not in (C.REGEX, C.EQUAL_TO):
            raise InvalidL7Rule("invalid comparison type for rule type")
        _value_by_compare(compare_type, value, header_value_ok, "comparison value")
    elif rule_type in (T.SSL_CONN_HAS_CERT, T.SSL_VERIFY_RESULT):
        if key:
            raise InvalidL7Rule(f'L7rule type {rule_type} does not use the "key" field.')
        if rule_type == T.SSL_CONN_HAS_CERT and value.lower() != "true":
            raise InvalidL7Rule(f"L7rule value {value} is not a boolean True string.")
        if rule_type == T.SSL_VERIFY_RESULT and not _NON_NEGATIVE_INT.match(value):
            raise InvalidL7Rule(f"L7rule type {rule_type} needs a int value, which is >= 0")
        if compare_type != C.EQUAL_TO:
            raise InvalidL7Rule(f"L7rule type {rule_type} only supports the {C.EQUAL_TO} compare type.")
    elif rule_type == T.SSL_DN_FIELD:
        if compare_type == C.REGEX:
            _regex(value)
        elif compare_type not in _SUBSTRING_COMPARES:
            raise InvalidL7Rule("invalid comparison type for rule type")
        if not key:
            raise InvalidL7Rule(f"L7rule type {rule_type} needs to specify a key and a value.")
        if not _DN_FIELD.match(key):
            raise InvalidL7Rule("Invalid L7rule distinguished name field.")
    else:
        raise InvalidL7Rule("invalid rule type")


_URL_CHARS = frozenset(_ALNUM + "-._~:/?#[]@!$&'()*+,;=%")


def valid_redirect_url(url: str) -> bool:
    """An absolute http/https URL with a host and only RFC 3986 characters (no spaces or controls)."""
    if not url or any(ch not in _URL_CHARS for ch in url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def sanitize_policy(fields: dict[str, Any], create: bool) -> dict[str, Any]:
    """Make action and redirect fields consistent (§3.3); returns the fields to store.

    `fields` holds what the request supplied (an update: only the given keys). A redirect field given
    without an action implies that action; the chosen action drops the redirect fields it does not use.
    """
    out = dict(fields)
    if "action" in out:
        action = out["action"]
        if action == A.REJECT:
            out.update(redirect_url=None, redirect_pool_id=None)
        elif action == A.REDIRECT_TO_URL:
            if not out.get("redirect_url"):
                raise InvalidL7PolicyArgs("redirect_url must not be None")
            out["redirect_pool_id"] = None
        elif action == A.REDIRECT_TO_POOL:
            if not out.get("redirect_pool_id"):
                raise InvalidL7PolicyArgs("redirect_pool_id or redirect_pool must not be None")
            out["redirect_url"] = None
        elif action == A.REDIRECT_PREFIX:
            if not out.get("redirect_prefix"):
                raise InvalidL7PolicyArgs("redirect_prefix must not be None")
        else:
            raise InvalidL7PolicyAction(action)
    if out.get("redirect_pool_id") and (out.get("redirect_url") or out.get("redirect_prefix")):
        raise InvalidL7PolicyArgs("Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the "
                                  "same time")
    if out.get("redirect_pool_id"):
        out.update(action=A.REDIRECT_TO_POOL, redirect_url=None, redirect_prefix=None, redirect_http_code=None)
    if out.get("redirect_url"):
        out.update(action=A.REDIRECT_TO_URL, redirect_pool_id=None, redirect_prefix=None)
        out["redirect_http_code"] = out.get("redirect_http_code") or DEFAULT_REDIRECT_HTTP_CODE
    if out.get("redirect_prefix"):
        out.update(action=A.REDIRECT_PREFIX, redirect_pool_id=None, redirect_url=None)
        out["redirect_http_code"] = out.get("redirect_http_code") or DEFAULT_REDIRECT_HTTP_CODE
    if create and "action" not in out:
        raise InvalidL7PolicyAction("None")
    if not out:
        raise InvalidL7PolicyArgs("Invalid update options")
    return out


# On update, the final action also clears the redirect fields it never uses (create keeps what was given).
UNUSED_BY_ACTION: dict[str, tuple[str, ...]] = {
    A.REJECT: ("redirect_url", "redirect_pool_id", "redirect_prefix", "redirect_http_code"),
    A.REDIRECT_TO_URL: ("redirect_pool_id", "redirect_prefix"),
    A.REDIRECT_TO_POOL: ("redirect_url", "redirect_prefix", "redirect_http_code"),
    A.REDIRECT_PREFIX: ("redirect_pool_id", "redirect_url"),
}


def reposition(ids: list[str], moving: str, position: int) -> list[str]:
    """The new order of a listener's policies after moving (or inserting) `moving` to 1-based `position`."""
    order = [i for i in ids if i != moving]
    order.insert(max(position, MIN_POSITION) - 1, moving)  # beyond the end appends
    return order
