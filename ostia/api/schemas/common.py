"""Serialisation helpers shared by every resource's `to_wire`."""

from __future__ import annotations

import datetime as dt
from typing import Any


def ts(value: dt.datetime | None) -> str | None:
    """Naive ISO-8601 without timezone or fractions, as Octavia renders it."""
    return value.replace(microsecond=0).isoformat() if value is not None else None


def text(value: str | None) -> str:
    return value if value is not None else ""


def ids(rows: Any) -> list[dict[str, str]]:
    return [{"id": r.id} for r in rows]


def common(row: Any) -> dict[str, Any]:
    """Fields every LB-tree object carries: id, project/tenant, statuses, timestamps, tags."""
    return {
        "id": row.id,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "provisioning_status": row.provisioning_status,
        "operating_status": row.operating_status,
        "admin_state_up": row.admin_state_up,
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
        "tags": row.tags,
    }
