"""Networks, subnets and ports owned by Ostia's network drivers (served read-only in Neutron's shape)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ostia.db.models.base import Base, IdMixin, TimestampMixin


class Network(IdMixin, TimestampMixin, Base):
    __tablename__ = "network"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    project_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class Subnet(IdMixin, TimestampMixin, Base):
    __tablename__ = "subnet"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("network.id"), index=True)
    cidr: Mapped[str] = mapped_column(String(64))
    ip_version: Mapped[int] = mapped_column(Integer)
    gateway_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Port(IdMixin, TimestampMixin, Base):
    __tablename__ = "port"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address", name="uq_port_subnet_address"),)
    name: Mapped[str] = mapped_column(String(255), default="")
    network_id: Mapped[str] = mapped_column(ForeignKey("network.id"), index=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnet.id"))
    ip_address: Mapped[str] = mapped_column(String(64))
    mac_address: Mapped[str] = mapped_column(String(17))
    device_id: Mapped[str] = mapped_column(String(255), default="")
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    project_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
