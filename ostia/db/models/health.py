from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ostia.db.models.base import Base, IdMixin, Timestamp, utcnow


class AmphoraHealth(Base):
    """Last good heartbeat of an amphora (a row exists only after the first one, so booting amphorae are never
    stale) and the busy flag that gives one health manager, or one flow, the right to fail it over."""

    __tablename__ = "amphora_health"

    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    last_update: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    busy: Mapped[bool] = mapped_column(Boolean, default=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=-1)  # highest sequence number accepted (replay guard)
    # md5 of the haproxy.cfg the amphora runs (one LB per amphora), as its last heartbeat reported
    applied_config_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class FailoverEvent(IdMixin, Base):
    """One step of a load balancer's failover timeline: DETECTED, DECIDED, TRAFFIC_RESTORED,
    REDUNDANCY_RESTORED, or FAILED / SKIPPED with the reason in `detail`."""

    __tablename__ = "failover_event"
    __table_args__ = (Index("ix_failover_event_lb_at", "load_balancer_id", "at"),)

    load_balancer_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    amphora_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    stage: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    detail: Mapped[str] = mapped_column(String(1024), default="")
