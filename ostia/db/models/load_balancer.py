from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, String
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
    from ostia.db.models.amphora import Amphora
    from ostia.db.models.listener import Listener
    from ostia.db.models.pool import Pool


class LoadBalancer(IdMixin, ProjectMixin, NamedMixin, DescribedMixin, StatusMixin, TimestampMixin, TaggedMixin, Base):
    __tablename__ = "load_balancer"

    vip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vip_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    vip_subnet_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    vip_network_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    vip_qos_policy_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    vip_sg_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    vip_vnic_type: Mapped[str] = mapped_column(String(16), default="normal")
    provider: Mapped[str | None] = mapped_column(String(64), nullable=True)
    flavor_id: Mapped[str | None] = mapped_column(ForeignKey("flavor.id"), nullable=True)
    availability_zone: Mapped[str | None] = mapped_column(
        ForeignKey("availability_zone.name"), nullable=True)
    topology: Mapped[str | None] = mapped_column(String(16), nullable=True)

    listeners: Mapped[list[Listener]] = relationship(
        back_populates="load_balancer", order_by="Listener.created_at")
    pools: Mapped[list[Pool]] = relationship(back_populates="load_balancer", order_by="Pool.created_at")
    additional_vips: Mapped[list[AdditionalVip]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")
    amphorae: Mapped[list[Amphora]] = relationship(back_populates="load_balancer")


class AdditionalVip(Base):
    __tablename__ = "additional_vip"

    load_balancer_id: Mapped[str] = mapped_column(
        ForeignKey("load_balancer.id", ondelete="CASCADE"), primary_key=True)
    subnet_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    network_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
