"""Member request bodies and wire form (§2.4). Members have no description."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from ostia.api.schemas.common import common, text
from ostia.api.schemas.types import STRICT_OBJECT, Bool, IpStr, Port, Str36, Str255, TagList, UuidStr
from ostia.db.models import Member

DEFAULT_WEIGHT = 1
Weight = Annotated[int, Field(ge=0, le=256)]


class MemberPOST(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255 | None = None
    admin_state_up: Bool = True
    address: IpStr
    protocol_port: Port
    weight: Weight | None = DEFAULT_WEIGHT
    backup: Bool = False
    subnet_id: UuidStr | None = None
    monitor_address: IpStr | None = None
    monitor_port: Port | None = None
    project_id: Str36 | None = None  # deprecated: members inherit the load balancer's project
    tenant_id: Str36 | None = None
    tags: TagList = Field(default_factory=list)
    request_sriov: Bool = False


class MemberPOSTBody(BaseModel):
    member: MemberPOST


class MemberPUT(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255 | None = None
    admin_state_up: Bool | None = None
    weight: Weight | None = None
    backup: Bool | None = None
    monitor_address: IpStr | None = None
    monitor_port: Port | None = None
    tags: TagList | None = None


class MemberPUTBody(BaseModel):
    member: MemberPUT


class MembersBatchBody(BaseModel):
    members: list[MemberPOST]


def to_wire(member: Member) -> dict[str, Any]:
    return {
        **common(member),
        "name": text(member.name),
        "address": member.address,
        "protocol_port": member.protocol_port,
        "weight": member.weight,
        "backup": member.backup,
        "subnet_id": member.subnet_id,
        "monitor_address": member.monitor_address,
        "monitor_port": member.monitor_port,
        "vnic_type": member.vnic_type,
    }
