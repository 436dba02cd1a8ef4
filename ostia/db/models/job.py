from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ostia.db.models.base import Base, IdMixin, Timestamp, TimestampMixin


class Job(IdMixin, TimestampMixin, Base):
    """One unit of worker work, written in the same transaction as the rows it acts on.

    A worker owns a RUNNING job only while `lease_expires_at` is in the future; recovery takes over
    jobs whose lease lapsed (killed worker) and PENDING jobs nobody claimed (lost dispatch).
    """

    __tablename__ = "job"

    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)
    load_balancer_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)
