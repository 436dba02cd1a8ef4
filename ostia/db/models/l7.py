from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ostia.db.models.base import (
    Base,
    DescribedMixin,
    IdMixin,
    NamedMixin,
    ProjectMixin,
    StatusMixin,
    TaggedMixin,
    TimestampMixin,
)

if TYPE_CHECKING:
    from ostia.db.models.listener import Listener
    from ostia.db.models.pool import Pool


class L7Policy(IdMixin, ProjectMixin, NamedMixin, DescribedMixin, StatusMixin, TimestampMixin, TaggedMixin, Base):
    __tablename__ = "l7policy"

    listener_id: Mapped[str] = mapped_column(ForeignKey("listener.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    redirect_pool_id: Mapped[str | None] = mapped_column(ForeignKey("pool.id"), nullable=True)
    redirect_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    redirect_prefix: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    redirect_http_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    position: Mapped[int] = mapped_column(Integer)

    listener: Mapped[Listener] = relationship(back_populates="l7policies", foreign_keys=[listener_id])
    redirect_pool: Mapped[Pool | None] = relationship(foreign_keys=[redirect_pool_id])
    rules: Mapped[list[L7Rule]] = relationship(back_populates="l7policy", order_by="L7Rule.created_at")


class L7Rule(IdMixin, ProjectMixin, StatusMixin, TimestampMixin, TaggedMixin, Base):
    __tablename__ = "l7rule"

    l7policy_id: Mapped[str] = mapped_column(ForeignKey("l7policy.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    compare_type: Mapped[str] = mapped_column(String(32))
    key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    value: Mapped[str] = mapped_column(String(255))
    invert: Mapped[bool] = mapped_column(Boolean, default=False)

    l7policy: Mapped[L7Policy] = relationship(back_populates="rules")
