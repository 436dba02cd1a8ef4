"""Rules every write action shares: locking the load balancer, quotas, tags, jobs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from oslo_config import cfg
from sqlalchemy import delete, func, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session

from ostia.api.context import RequestContext
from ostia.db.models import (
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    Quota,
    Tag,
    utcnow,
)
from ostia.domain import errors
from ostia.domain.enums import ProvisioningStatus
from ostia.jobs.store import add_job

T = TypeVar("T")

# quota field → (model, wire name in the 403 message)
QUOTA_RESOURCES: dict[str, tuple[Any, str]] = {
    "load_balancer": (LoadBalancer, "Load Balancer"),
    "listener": (Listener, "Listener"),
    "pool": (Pool, "Pool"),
    "health_monitor": (HealthMonitor, "Health Monitor"),
    "member": (Member, "Member"),
    "l7policy": (L7Policy, "L7 Policy"),
    "l7rule": (L7Rule, "L7 Rule"),
}


def get_or_404(session: Session, model: type[T], ident: str, label: str, lock: bool = False) -> T:
    if "\x00" in ident:  # no id holds NUL, and PostgreSQL would refuse the query parameter
        raise errors.NotFound(label, ident)
    stmt = select(model).where(model.id == ident)  # type: ignore[attr-defined]
    if model is LoadBalancer:
        stmt = stmt.where(LoadBalancer.provisioning_status != ProvisioningStatus.DELETED)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise errors.NotFound(label, ident)
    return row


def reread(session: Session, row: Any, label: str) -> None:
    """Read a row again under the LB lock just taken. The worker may have deleted it meanwhile (a cascade
    delete finishing between our first read and the lock): then it is a 404, not a failed refresh (500)."""
    ident = row.id
    try:
        session.refresh(row)
    except InvalidRequestError:
        raise errors.NotFound(label, ident) from None


def lock_load_balancer(session: Session, lb_id: str) -> LoadBalancer:
    """Row-lock the LB and require it ACTIVE: child changes on a busy LB are 409 (§4.1)."""
    lb = get_or_404(session, LoadBalancer, lb_id, "Load Balancer", lock=True)
    if lb.provisioning_status != ProvisioningStatus.ACTIVE:
        raise errors.ImmutableObject("Load Balancer", lb.id)
    return lb


def require_active(row: Any, label: str) -> None:
    if row.provisioning_status != ProvisioningStatus.ACTIVE:
        raise errors.ImmutableObject(label, row.id)


def mark(rows: Iterable[Any], status: ProvisioningStatus, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    for row in rows:
        row.provisioning_status = status
        row.updated_at = now


def set_tags(session: Session, resource_id: str, tags: list[str] | None) -> None:
    if tags is None:
        return
    session.execute(delete(Tag).where(Tag.resource_id == resource_id))
    for tag in dict.fromkeys(tags):
        session.add(Tag(resource_id=resource_id, tag=tag))


def quota_limit(conf: cfg.ConfigOpts, quota: Quota | None, field: str) -> int:
    value = getattr(quota, field) if quota is not None else None
    return int(value if value is not None else getattr(conf.quotas, f"default_{field}_quota"))


def count_in_use(session: Session, project_id: str, field: str) -> int:
    model = QUOTA_RESOURCES[field][0]
    stmt = select(func.count()).select_from(model).where(model.project_id == project_id)
    if model is LoadBalancer:
        stmt = stmt.where(LoadBalancer.provisioning_status != ProvisioningStatus.DELETED)
    return int(session.scalar(stmt) or 0)


def check_quota(session: Session, conf: cfg.ConfigOpts, ctx: RequestContext, project_id: str | None,
                wanted: dict[str, int]) -> None:
    """403 if adding `wanted` objects would exceed the project's quota. Skipped in noauth mode (§6)."""
    if conf.api_settings.auth_strategy == "noauth" or not project_id:
        return
    quota = session.scalars(select(Quota).where(Quota.project_id == project_id).with_for_update()).first()
    for field, count in wanted.items():
        if count <= 0:
            continue
        limit = quota_limit(conf, quota, field)
        if limit == -1:
            continue
        if count_in_use(session, project_id, field) + count > limit:
            raise errors.QuotaExceeded(QUOTA_RESOURCES[field][1])


def create_job(session: Session, kind: str, load_balancer_id: str | None, **payload: Any) -> str:
    return add_job(session, kind, payload, load_balancer_id).id


def stage_child(session: Session, job_kind: str, lb: LoadBalancer, target: Any,
                status: ProvisioningStatus | None, parents: Iterable[Any] = ()) -> str:
    """Hand a change of an object under `lb` to the worker (§4.1): the object `status` (None for a new one,
    already PENDING_CREATE), its parents and the LB PENDING_UPDATE, all at one instant; then its job."""
    now = utcnow()
    if status is not None:
        mark([target], status, now)
    mark([*parents, lb], ProvisioningStatus.PENDING_UPDATE, now)
    return create_job(session, job_kind, lb.id, ids=[target.id])


def rendered(session: Session, row: Any, to_wire: Callable[[Any], dict[str, Any]],
             reload: Iterable[str] = ()) -> dict[str, Any]:
    """The wire form inside the write transaction (so a create answers PENDING_CREATE even if the worker is
    quick); tags, and the child collections named in `reload`, may have been loaded before this change, so
    they are read again."""
    session.flush()
    session.expire(row, ["tag_rows", *reload])
    return to_wire(row)
