r"""Turning user-supplied strings into single HAProxy config words that cannot add directives.

HAProxy (2.x) splits a config line into words itself: spaces separate words, `#` starts a comment, `\` escapes,
double quotes still expand `$VARS` and backslashes, single quotes are literal. So every user value is emitted
in single quotes, with an embedded `'` written as `'\''` (adjacent quoted parts join into one word, as in a
shell). A line break or another control character cannot be written inside a word at all: such values are
refused (`Unsafe`) and the caller leaves the directive that needed them out.

Some directives (redirect locations, header values) also treat `%` as the start of a log-format expression:
`logformat()` doubles it first so the text is sent as it is.
"""

from __future__ import annotations

import ipaddress
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Arguments of sample fetches such as req.hdr(<name>): HTTP token characters that need no escaping inside
# the parentheses (quotes, commas and parentheses would be parsed as argument syntax).
_FETCH_ARG = re.compile(r"\A[A-Za-z0-9!#$%&*+.^_`|~-]+\Z")
# Numbers only (ssl_c_verify results and the like).
_DIGITS = re.compile(r"\A[0-9]+\Z")
# Object ids used as section, server and ACL names (UUIDs in practice).
_NAME = re.compile(r"\A[A-Za-z0-9_.-]+\Z")
# Values that are safe as bare words: shown unquoted so the common case stays readable.
_BARE = re.compile(r"\A[A-Za-z0-9_./:=@,+-]+\Z")


class Unsafe(ValueError):
    """A value that cannot be written into the config as one word."""


def quote(value: str) -> str:
    """One config word holding exactly `value`."""
    if _CONTROL.search(value):
        raise Unsafe(f"control character in {value!r}")
    if value and _BARE.match(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def name(value: str) -> str:
    """An id used as a proxy, server or ACL name."""
    if not _NAME.match(value):
        raise Unsafe(f"not usable as a name: {value!r}")
    return value


def logformat(value: str) -> str:
    """One config word for a log-format argument whose text must come out literally."""
    return quote(value.replace("%", "%%"))


def fetch_arg(value: str) -> str:
    """A header, cookie or DN-field name as the argument of a sample fetch (the caller quotes the fetch)."""
    if not _FETCH_ARG.match(value):
        raise Unsafe(f"not usable as a fetch argument: {value!r}")
    return value


def digits(value: str) -> str:
    if not _DIGITS.match(value):
        raise Unsafe(f"not a number: {value!r}")
    return value


def address(value: str) -> str:
    """An IP address, checked: anything else (a name, a port, spaces) is refused."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise Unsafe(f"not an IP address: {value!r}") from exc


def network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError as exc:
        raise Unsafe(f"not a CIDR: {value!r}") from exc
