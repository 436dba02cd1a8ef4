"""Load balancer request bodies and wire form (§2.1)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ostia.api.schemas.common import common, ids, text
from ostia.api.schemas.types import STRICT_OBJECT, Bool, IpStr, Str36, Str64, Str255, TagList, UuidStr
from ostia.db.models import LoadBalancer


class AdditionalVipPOST(BaseModel):
    model_config = STRICT_OBJECT
    subnet_id: UuidStr
    ip_address: IpStr | None = None


class LoadBalancerPOST(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool = True
    project_id: Str36 | None = None
    tenant_id: Str36 | None = None
    vip_address: IpStr | None = None
    vip_port_id: UuidStr | None = None
    vip_subnet_id: UuidStr | None = None
    vip_network_id: UuidStr | None = None
    vip_qos_policy_id: UuidStr | None = None
    vip_sg_ids: list[UuidStr] | None = None
    additional_vips: list[AdditionalVipPOST] = Field(default_factory=list)
    provider: Str64 | None = None
    flavor_id: UuidStr | None = None
    availability_zone: Str255 | None = None
    tags: TagList = Field(default_factory=list)
    # Single-call create: validated by the graph builder with the child schemas.
    listeners: list[dict[str, Any]] = Field(default_factory=list)
    pools: list[dict[str, Any]] = Field(default_factory=list)


class LoadBalancerPOSTBody(BaseModel):
    loadbalancer: LoadBalancerPOST


class LoadBalancerPUT(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool | None = None
    vip_qos_policy_id: UuidStr | None = None
    vip_sg_ids: list[UuidStr] | None = None
    tags: TagList | None = None


class LoadBalancerPUTBody(BaseModel):
    loadbalancer: LoadBalancerPUT


def to_wire(lb: LoadBalancer) -> dict[str, Any]:
    return {
        **common(lb),
        "name": text(lb.name),
        "description": text(lb.description),
        "vip_address": lb.vip_address,
        "vip_port_id": lb.vip_port_id,
        "vip_subnet_id": lb.vip_subnet_id,
        "vip_network_id": lb.vip_network_id,
        "vip_qos_policy_id": lb.vip_qos_policy_id,
        "vip_sg_ids": list(lb.vip_sg_ids or []),
        "vip_vnic_type": lb.vip_vnic_type,
        "additional_vips": [{"subnet_id": v.subnet_id, "ip_address": v.ip_address, "port_id": v.port_id}
                            for v in lb.additional_vips],
        "listeners": ids(lb.listeners),
        "pools": ids(lb.pools),
        "provider": lb.provider or "octavia",
        "flavor_id": lb.flavor_id,
        "availability_zone": lb.availability_zone,
    }
