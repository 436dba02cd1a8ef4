"""Health monitor request bodies and wire form (§2.5). Health monitors have no description."""

from __future__ import annotations

import re
import urllib.parse
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from ostia.api.schemas.common import common, text
from ostia.api.schemas.types import STRICT_OBJECT, Bool, Seconds, Str36, Str255, TagList, UuidStr, _only_str
from ostia.db.models import HealthMonitor
from ostia.domain.enums import HealthMonitorType, HttpMethod

EXPECTED_CODES_PATTERN = r"^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$"
DOMAIN_NAME_PATTERN = r"^(?=.{1,253}\.?$)(?:(?!-|[^.]+_)[A-Za-z0-9-_]{1,63}(?<!-)(?:\.|$))+$"
HTTP_VERSIONS = (1.0, 1.1)
_EXPECTED_CODES_RE = re.compile(EXPECTED_CODES_PATTERN)
_DOMAIN_NAME_RE = re.compile(DOMAIN_NAME_PATTERN)
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def _pattern(regex: re.Pattern[str], pattern: str) -> Any:
    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"Value should match the pattern {pattern}")
        return value
    return AfterValidator(check)


def _url_path(value: str) -> str:
    """A path only: starts with '/', no scheme, host, user or port, no whitespace."""
    parts = urllib.parse.urlsplit(value)
    if (_SPACE_OR_CONTROL.search(value) or parts.scheme or parts.netloc or not value.startswith("/")
            or value.startswith("//")):
        raise ValueError("Value must be a valid URL Path string")
    return value


def _http_version(value: float) -> float:
    if value not in HTTP_VERSIONS:
        raise ValueError("Value should be one of: 1.0, 1.1")
    return value


Retries = Annotated[int, Field(ge=1, le=10)]
UrlPath = Annotated[str, BeforeValidator(_only_str), Field(max_length=2048), AfterValidator(_url_path)]
ExpectedCodes = Annotated[str, BeforeValidator(_only_str), Field(max_length=64),
                          _pattern(_EXPECTED_CODES_RE, EXPECTED_CODES_PATTERN)]
DomainName = Annotated[str, BeforeValidator(_only_str), Field(min_length=1, max_length=255),
                       _pattern(_DOMAIN_NAME_RE, DOMAIN_NAME_PATTERN)]
# gophercloud sends http_version as a string ("1.1"); lax float parsing accepts it.
HttpVersion = Annotated[float, AfterValidator(_http_version)]


class HealthMonitorPOST(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255 | None = None
    pool_id: UuidStr
    type: HealthMonitorType
    delay: Seconds
    timeout: Seconds
    max_retries: Retries
    max_retries_down: Retries | None = 3
    http_method: HttpMethod | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    http_version: HttpVersion | None = None
    domain_name: DomainName | None = None
    admin_state_up: Bool = True
    project_id: Str36 | None = None  # deprecated: health monitors inherit the load balancer's project
    tenant_id: Str36 | None = None
    tags: TagList = Field(default_factory=list)


class HealthMonitorPOSTBody(BaseModel):
    healthmonitor: HealthMonitorPOST


class HealthMonitorPUT(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255 | None = None
    delay: Seconds | None = None
    timeout: Seconds | None = None
    max_retries: Retries | None = None
    max_retries_down: Retries | None = None
    http_method: HttpMethod | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    http_version: HttpVersion | None = None
    domain_name: DomainName | None = None
    admin_state_up: Bool | None = None
    tags: TagList | None = None


class HealthMonitorPUTBody(BaseModel):
    healthmonitor: HealthMonitorPUT


def _fields(hm: HealthMonitor) -> dict[str, Any]:
    return {
        **common(hm),
        "name": text(hm.name),
        "type": hm.type,
        "delay": hm.delay,
        "timeout": hm.timeout,
        "max_retries": hm.max_retries,
        "max_retries_down": hm.max_retries_down,
        "http_method": hm.http_method,
        "url_path": hm.url_path,
        "expected_codes": hm.expected_codes,
        "http_version": hm.http_version,
        "domain_name": hm.domain_name,
    }


def to_wire(hm: HealthMonitor) -> dict[str, Any]:
    return {**_fields(hm), "pools": [{"id": hm.pool_id}]}


def to_wire_full(hm: HealthMonitor) -> dict[str, Any]:
    """Inside a fully populated pool (§2.12) the monitor does not repeat its pool."""
    return _fields(hm)
