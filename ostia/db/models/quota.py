from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ostia.db.models.base import Base

QUOTA_FIELDS = ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy", "l7rule")


class Quota(Base):
    """Per-project limits; NULL means the configured default. The row also serialises quota checks."""

    __tablename__ = "quota"
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    load_balancer: Mapped[int | None] = mapped_column(Integer, nullable=True)
    listener: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pool: Mapped[int | None] = mapped_column(Integer, nullable=True)
    health_monitor: Mapped[int | None] = mapped_column(Integer, nullable=True)
    member: Mapped[int | None] = mapped_column(Integer, nullable=True)
    l7policy: Mapped[int | None] = mapped_column(Integer, nullable=True)
    l7rule: Mapped[int | None] = mapped_column(Integer, nullable=True)
