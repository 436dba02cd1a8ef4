"""L7 rule request bodies and wire form (§2.7). The wire root keys are `rule` / `rules`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from ostia.api.schemas.common import common
from ostia.api.schemas.types import STRICT_OBJECT, Bool, Str36, TagList, _only_str
from ostia.db.models import L7Rule
from ostia.domain.enums import L7RuleCompareType, L7RuleType

# Keys and values end up in HAProxy ACLs: one line each, so no CR/LF.
OneLine255 = Annotated[str, BeforeValidator(_only_str), Field(max_length=255, pattern=r"^[^\r\n]*$")]


class L7RulePOST(BaseModel):
    model_config = STRICT_OBJECT
    type: L7RuleType
    compare_type: L7RuleCompareType
    value: OneLine255
    key: OneLine255 | None = None
    invert: Bool = False
    admin_state_up: Bool = True
    project_id: Str36 | None = None  # deprecated: rules inherit the LB's project
    tenant_id: Str36 | None = None
    tags: TagList = Field(default_factory=list)


class L7RulePOSTBody(BaseModel):
    rule: L7RulePOST


class L7RulePUT(BaseModel):
    """Only the keys present change; the merged rule is validated again (§2.7)."""

    model_config = STRICT_OBJECT
    type: L7RuleType | None = None
    compare_type: L7RuleCompareType | None = None
    value: OneLine255 | None = None
    key: OneLine255 | None = None
    invert: Bool | None = None
    admin_state_up: Bool | None = None
    tags: TagList | None = None


class L7RulePUTBody(BaseModel):
    rule: L7RulePUT


def to_wire(rule: L7Rule) -> dict[str, Any]:
    return {
        **common(rule),
        "type": rule.type,
        "compare_type": rule.compare_type,
        "key": rule.key,
        "value": rule.value,
        "invert": bool(rule.invert),
    }
