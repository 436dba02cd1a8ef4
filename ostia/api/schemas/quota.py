"""Quota request body and wire form (§2.8, §6).

The wire carries both spellings of two fields (`loadbalancer`/`load_balancer`, `healthmonitor`/
`health_monitor`); the database stores the code spellings (`QUOTA_FIELDS`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from ostia.api.schemas.types import STRICT_OBJECT

MIN_QUOTA, MAX_QUOTA = -1, 2000000000
QuotaValue = Annotated[int, Field(ge=MIN_QUOTA, le=MAX_QUOTA)]

# wire spelling → stored field; the Octavia spelling wins over the deprecated one when both are sent
ALIASES = {"loadbalancer": "load_balancer", "healthmonitor": "health_monitor"}


class QuotaPUT(BaseModel):
    model_config = STRICT_OBJECT
    loadbalancer: QuotaValue | None = None
    load_balancer: QuotaValue | None = None
    listener: QuotaValue | None = None
    member: QuotaValue | None = None
    pool: QuotaValue | None = None
    healthmonitor: QuotaValue | None = None
    health_monitor: QuotaValue | None = None
    l7policy: QuotaValue | None = None
    l7rule: QuotaValue | None = None

    def changes(self) -> dict[str, int | None]:
        """Stored field → new value for the fields the caller sent (explicit null = back to default)."""
        sent = self.model_dump(exclude_unset=True)
        out = {k: v for k, v in sent.items() if k not in ALIASES}
        for wire, field in ALIASES.items():
            if wire in sent:
                out[field] = sent[wire]
        return out


class QuotaPUTBody(BaseModel):
    quota: QuotaPUT


def to_wire(project_id: str, values: dict[str, Any]) -> dict[str, Any]:
    lb, hm = values.get("load_balancer"), values.get("health_monitor")
    return {
        "load_balancer": lb,
        "loadbalancer": lb,
        "listener": values.get("listener"),
        "pool": values.get("pool"),
        "health_monitor": hm,
        "healthmonitor": hm,
        "member": values.get("member"),
        "l7policy": values.get("l7policy"),
        "l7rule": values.get("l7rule"),
        "project_id": project_id,
        "tenant_id": project_id,
    }
