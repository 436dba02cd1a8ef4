"""Quota reads and writes (§6). Enforcement itself lives in `common.check_quota`."""

from __future__ import annotations

from oslo_config import cfg
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ostia.api.actions.common import quota_limit
from ostia.api.context import RequestContext
from ostia.api.schemas.quota import QuotaPUT
from ostia.api.services import ApiServices
from ostia.db.models import QUOTA_FIELDS, Quota
from ostia.domain import errors

MAX_PROJECT_ID = 255


def defaults(conf: cfg.ConfigOpts) -> dict[str, int]:
    return {field: int(getattr(conf.quotas, f"default_{field}_quota")) for field in QUOTA_FIELDS}


def raw(row: Quota) -> dict[str, int | None]:
    """Stored values; None means "the deployment default"."""
    return {field: getattr(row, field) for field in QUOTA_FIELDS}


def effective(conf: cfg.ConfigOpts, row: Quota | None) -> dict[str, int]:
    return {field: quota_limit(conf, row, field) for field in QUOTA_FIELDS}


def _row(session: Session, project_id: str, lock: bool = False) -> Quota | None:
    stmt = select(Quota).where(Quota.project_id == project_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def show(svc: ApiServices, ctx: RequestContext, project_id: str) -> dict[str, int]:
    svc.policy.authorize(ctx, "quota:get_one", project_id)
    with svc.db.session() as session:
        return effective(svc.conf, _row(session, project_id))


def show_defaults(svc: ApiServices, ctx: RequestContext, project_id: str, action: str) -> dict[str, int]:
    svc.policy.authorize(ctx, action, project_id)
    return defaults(svc.conf)


def update(svc: ApiServices, ctx: RequestContext, project_id: str, body: QuotaPUT) -> dict[str, int]:
    svc.policy.authorize(ctx, "quota:put", project_id)
    if len(project_id) > MAX_PROJECT_ID:  # the column's size; a longer key would be a database error
        raise errors.InvalidInput("project_id", project_id,
                                  f"Value should have a maximum character requirement of {MAX_PROJECT_ID}")
    changes = body.changes()
    try:
        return _write(svc, project_id, changes)
    except IntegrityError:  # a concurrent first PUT created the record meanwhile: update that one
        return _write(svc, project_id, changes)


def _write(svc: ApiServices, project_id: str, changes: dict[str, int | None]) -> dict[str, int]:
    with svc.db.session() as session:
        row = _row(session, project_id, lock=True)
        if row is None:
            row = Quota(project_id=project_id)
            session.add(row)
        for field, value in changes.items():
            setattr(row, field, value)
        session.flush()
        return effective(svc.conf, row)


def reset(svc: ApiServices, ctx: RequestContext, project_id: str) -> None:
    """Back to the defaults. Like Octavia the record stays (all null) and a project without one is 404."""
    svc.policy.authorize(ctx, "quota:delete", project_id)
    with svc.db.session() as session:
        row = _row(session, project_id, lock=True)
        if row is None:
            raise errors.NotFound("Quotas", project_id)
        for field in QUOTA_FIELDS:
            setattr(row, field, None)


def list_scope(svc: ApiServices, ctx: RequestContext, requested: str | None) -> str | None:
    """Which project a quota list is limited to (None = all), after policy (Octavia's _auth_get_all).

    Global readers and quota admins see every project or the one they ask for; anyone else may list only
    their own project, and asking for another one is refused rather than answered with an empty list.
    """
    if svc.policy.allowed(ctx, "quota:get_all-global", requested):
        return requested
    project = requested or ctx.project_id
    svc.policy.authorize(ctx, "quota:get_all", project)
    return project
