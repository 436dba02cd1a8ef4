"""Job rows: written with the object rows in one transaction, claimed by workers under a lease."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from ostia.db.models import Job, utcnow
from ostia.domain.enums import JobState


def add_job(session: Session, kind: str, payload: dict[str, Any], load_balancer_id: str | None) -> Job:
    job = Job(kind=kind, payload=payload, state=JobState.PENDING, load_balancer_id=load_balancer_id, attempts=0)
    session.add(job)
    session.flush()
    return job


def claim(session: Session, job_id: str, owner: str, lease_seconds: int) -> bool:
    """Take a PENDING job, or a RUNNING one whose owner let its lease lapse. True if this caller got it."""
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == job_id,
               or_(Job.state == JobState.PENDING,
                   and_(Job.state == JobState.RUNNING, Job.lease_expires_at < now)))
        .values(state=JobState.RUNNING, owner=owner, attempts=Job.attempts + 1,
                lease_expires_at=now + dt.timedelta(seconds=lease_seconds), updated_at=now)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def renew(session: Session, job_ids: list[str], owner: str, lease_seconds: int) -> int:
    """Extend the leases `owner` still holds; returns how many it still holds."""
    if not job_ids:
        return 0
    result = session.execute(
        update(Job).where(Job.id.in_(job_ids), Job.owner == owner, Job.state == JobState.RUNNING)
        .values(lease_expires_at=utcnow() + dt.timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def finish(session: Session, job_id: str, owner: str, state: JobState, error: str | None = None) -> bool:
    """Record the outcome, if `owner` still holds the job (a worker that took it over owns the outcome)."""
    now = utcnow()
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.owner == owner, Job.state == JobState.RUNNING)
        .values(state=state, error=error, finished_at=now, lease_expires_at=None, updated_at=now)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def recoverable(session: Session, unclaimed_grace: float, limit: int = 50) -> list[str]:
    """Jobs nobody is working on: lapsed leases, and PENDING jobs older than the dispatch grace."""
    now = utcnow()
    rows = session.scalars(
        select(Job.id).where(or_(
            and_(Job.state == JobState.RUNNING, Job.lease_expires_at < now),
            and_(Job.state == JobState.PENDING, Job.created_at < now - dt.timedelta(seconds=unclaimed_grace)),
        )).order_by(Job.created_at).limit(limit))
    return list(rows)
