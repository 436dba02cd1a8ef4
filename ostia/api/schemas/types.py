"""Annotated pydantic types that validate like Octavia's WSME types (and word their errors the same way)."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

# Every request object forbids unknown attributes and coerces scalars leniently (as WSME does).
STRICT_OBJECT = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=False)


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError("Value should be UUID format") from None


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("Value should be IPv4 or IPv6 format") from None


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError("Value should be IPv4 or IPv6 CIDR format") from None


def _null_is_false(value: Any) -> Any:
    return False if value is None else value


def _only_str(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise ValueError("Value should be string")
    if value is not None and "\x00" in value:  # PostgreSQL cannot store NUL in text: refuse it as bad input
        raise ValueError("Value should not contain NUL characters")
    return value


UuidStr = Annotated[str, BeforeValidator(_only_str), AfterValidator(_uuid)]
IpStr = Annotated[str, BeforeValidator(_only_str), AfterValidator(_ip)]
CidrStr = Annotated[str, BeforeValidator(_only_str), AfterValidator(_cidr)]
Str255 = Annotated[str, BeforeValidator(_only_str), Field(max_length=255)]
Str64 = Annotated[str, BeforeValidator(_only_str), Field(max_length=64)]
Str36 = Annotated[str, BeforeValidator(_only_str), Field(max_length=36)]
Str4096 = Annotated[str, BeforeValidator(_only_str), Field(max_length=4096)]
Bool = Annotated[bool, BeforeValidator(_null_is_false)]
Port = Annotated[int, Field(ge=1, le=65535)]
# Integer columns are 32-bit on PostgreSQL and MariaDB: an integer field without a smaller maximum of its own
# is capped here, so no request can overflow a column (a database error, a 500); WSME's "lower or equal" message.
INT32_MAX = 2**31 - 1
Seconds = Annotated[int, Field(ge=0, le=INT32_MAX)]
TagList = list[Str255]
