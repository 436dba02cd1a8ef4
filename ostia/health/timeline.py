"""The failover timeline: one `failover_event` row per step of a load balancer's failover.

The health manager writes DETECTED and DECIDED (or SKIPPED when its circuit breaker holds back), the failover
flow writes TRAFFIC_RESTORED, REDUNDANCY_RESTORED or FAILED. Rows are written in the caller's transaction so a
decision and its event commit together.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia.db.models import FailoverEvent, utcnow

DETAIL_MAX = 1024  # the column's width


class FailoverStage(StrEnum):
    DETECTED = "DETECTED"  # heartbeats stopped: the amphora is stale
    DECIDED = "DECIDED"  # a failover job was created for it
    SKIPPED = "SKIPPED"  # stale, but not failed over (circuit breaker)
    TRAFFIC_RESTORED = "TRAFFIC_RESTORED"  # the VIP is served again
    REDUNDANCY_RESTORED = "REDUNDANCY_RESTORED"  # the replacement is in place: back to full strength
    FAILED = "FAILED"  # the failover flow reverted


_RANK: dict[str, int] = {str(stage): rank for rank, stage in enumerate(FailoverStage)}


def record(session: Session, stage: FailoverStage, lb_id: str | None, amphora_id: str | None,
           detail: str = "", at: dt.datetime | None = None) -> FailoverEvent:
    event = FailoverEvent(load_balancer_id=lb_id, amphora_id=amphora_id, stage=stage, at=at or utcnow(),
                          detail=detail[:DETAIL_MAX])
    session.add(event)
    return event


def events(session: Session, lb_id: str, limit: int | None = None) -> list[FailoverEvent]:
    """The LB's timeline, oldest first; `limit` keeps only the newest ones."""
    stmt = (select(FailoverEvent).where(FailoverEvent.load_balancer_id == lb_id)
            .order_by(FailoverEvent.at.desc()))
    if limit is not None:
        stmt = stmt.limit(limit)
    # Steps written in one instant (same microsecond) still read in the order a failover goes through them.
    return sorted(session.scalars(stmt), key=lambda e: (e.at, _RANK.get(e.stage, len(_RANK))))


def to_wire(event: FailoverEvent) -> dict[str, str | None]:
    return {"stage": event.stage, "at": event.at.isoformat(), "amphora_id": event.amphora_id,
            "detail": event.detail}
