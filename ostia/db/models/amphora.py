from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ostia.db.models.base import Base, IdMixin, Timestamp, TimestampMixin

if TYPE_CHECKING:
    from ostia.db.models.load_balancer import LoadBalancer


class Amphora(IdMixin, TimestampMixin, Base):
    __tablename__ = "amphora"

    load_balancer_id: Mapped[str | None] = mapped_column(ForeignKey("load_balancer.id"), nullable=True, index=True)
    compute_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    lb_network_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vrrp_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ha_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vrrp_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    ha_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    cert_expiration: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)
    cert_busy: Mapped[bool] = mapped_column(Boolean, default=False)
    # Token of the housekeeper holding cert_busy (housekeeping/certs.py): only that one may release it
    cert_claim: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # Generation of the local CA that signed its server certificate (None: not known yet; see ca_rotation.py)
    ca_generation: Mapped[int | None] = mapped_column(Integer, nullable=True)
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    vrrp_interface: Mapped[str | None] = mapped_column(String(16), nullable=True)
    vrrp_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    vrrp_priority: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cached_zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    image_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    compute_flavor: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # md5 of the haproxy.cfg last pushed to it (the desired state heartbeats are compared with)
    config_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

    load_balancer: Mapped[LoadBalancer | None] = relationship(back_populates="amphorae")


class ListenerStatistics(Base):
    """Counters per listener and amphora, written by the health manager (zeros until heartbeats exist)."""

    __tablename__ = "listener_statistics"

    listener_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(Integer, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(BigInteger, default=0)
