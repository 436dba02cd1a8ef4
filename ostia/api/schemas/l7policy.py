"""L7 policy request bodies and wire form (§2.6)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from ostia.api.schemas import l7rule as l7rule_schema
from ostia.api.schemas.common import common, ids, text
from ostia.api.schemas.types import STRICT_OBJECT, Bool, Str36, Str255, TagList, UuidStr, _only_str
from ostia.db.models import L7Policy
from ostia.domain import l7
from ostia.domain.enums import L7PolicyAction


def _url(value: str) -> str:
    if not l7.valid_redirect_url(value):
        raise ValueError("Value must be a valid URL string")
    return value


def _http_code(value: int) -> int:
    if value not in l7.REDIRECT_HTTP_CODES:
        raise ValueError("Value should be one of: " + ", ".join(str(c) for c in l7.REDIRECT_HTTP_CODES))
    return value


RedirectUrl = Annotated[str, BeforeValidator(_only_str), Field(max_length=2048), AfterValidator(_url)]
RedirectHttpCode = Annotated[int, AfterValidator(_http_code)]
Position = Annotated[int, Field(ge=l7.MIN_POSITION, le=l7.MAX_POSITION)]


class L7PolicyPOST(BaseModel):
    model_config = STRICT_OBJECT
    listener_id: UuidStr
    action: L7PolicyAction
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool = True
    project_id: Str36 | None = None  # deprecated: policies inherit the LB's project
    tenant_id: Str36 | None = None
    redirect_pool_id: UuidStr | None = None
    redirect_url: RedirectUrl | None = None
    redirect_prefix: RedirectUrl | None = None
    redirect_http_code: RedirectHttpCode | None = None
    position: Position | None = None
    rules: list[l7rule_schema.L7RulePOST] | None = None
    tags: TagList = Field(default_factory=list)


class L7PolicyPOSTBody(BaseModel):
    l7policy: L7PolicyPOST


class L7PolicyPUT(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool | None = None
    action: L7PolicyAction | None = None
    redirect_pool_id: UuidStr | None = None
    redirect_url: RedirectUrl | None = None
    redirect_prefix: RedirectUrl | None = None
    redirect_http_code: RedirectHttpCode | None = None
    position: Position | None = None
    tags: TagList | None = None


class L7PolicyPUTBody(BaseModel):
    l7policy: L7PolicyPUT


def to_wire(policy: L7Policy, full: bool = False) -> dict[str, Any]:
    return {
        **common(policy),
        "name": text(policy.name),
        "description": text(policy.description),
        "listener_id": policy.listener_id,
        "action": policy.action,
        "redirect_pool_id": policy.redirect_pool_id,
        "redirect_url": policy.redirect_url,
        "redirect_prefix": policy.redirect_prefix,
        "redirect_http_code": policy.redirect_http_code,
        "position": policy.position,
        "rules": [l7rule_schema.to_wire(r) for r in policy.rules] if full else ids(policy.rules),
    }


def to_wire_full(policy: L7Policy) -> dict[str, Any]:
    """The graph-create form: full rule objects instead of ids."""
    return to_wire(policy, full=True)
