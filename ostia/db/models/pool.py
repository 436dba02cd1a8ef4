from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
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
    from ostia.db.models.l7 import L7Policy
    from ostia.db.models.listener import Listener
    from ostia.db.models.load_balancer import LoadBalancer


class Pool(IdMixin, ProjectMixin, NamedMixin, DescribedMixin, StatusMixin, TimestampMixin, TaggedMixin, Base):
    __tablename__ = "pool"

    load_balancer_id: Mapped[str] = mapped_column(ForeignKey("load_balancer.id"), index=True)
    protocol: Mapped[str] = mapped_column(String(16))
    lb_algorithm: Mapped[str] = mapped_column(String(32))
    session_persistence: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    tls_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    tls_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    crl_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tls_ciphers: Mapped[str | None] = mapped_column(Text, nullable=True)
    tls_versions: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    alpn_protocols: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="pools")
    members: Mapped[list[Member]] = relationship(back_populates="pool", order_by="Member.created_at")
    health_monitor: Mapped[HealthMonitor | None] = relationship(back_populates="pool", uselist=False)
    # Read-only views for the wire form (`listeners`) and the delete check: listeners using this pool as
    # their default pool, and L7 policies redirecting to it.
    default_of_listeners: Mapped[list[Listener]] = relationship(
        primaryjoin="Listener.default_pool_id == Pool.id", viewonly=True, order_by="Listener.created_at")
    redirecting_l7policies: Mapped[list[L7Policy]] = relationship(
        primaryjoin="L7Policy.redirect_pool_id == Pool.id", viewonly=True, order_by="L7Policy.created_at")


class Member(IdMixin, ProjectMixin, NamedMixin, StatusMixin, TimestampMixin, TaggedMixin, Base):
    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("pool_id", "address", "protocol_port", name="uq_member_pool_address_port"),)

    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id"), index=True)
    address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    backup: Mapped[bool] = mapped_column(Boolean, default=False)
    subnet_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    monitor_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    monitor_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    vnic_type: Mapped[str] = mapped_column(String(16), default="normal")
    request_sriov: Mapped[bool] = mapped_column(Boolean, default=False)

    pool: Mapped[Pool] = relationship(back_populates="members")


class HealthMonitor(IdMixin, ProjectMixin, NamedMixin, StatusMixin, TimestampMixin, TaggedMixin, Base):
    __tablename__ = "health_monitor"

    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id"), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    max_retries: Mapped[int] = mapped_column(Integer)
    max_retries_down: Mapped[int] = mapped_column(Integer, default=3)
    http_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    url_path: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    expected_codes: Mapped[str | None] = mapped_column(String(64), nullable=True)
    http_version: Mapped[float | None] = mapped_column(Float, nullable=True)
    domain_name: Mapped[str | None] = mapped_column(String(255), nullable=True)

    pool: Mapped[Pool] = relationship(back_populates="health_monitor")
