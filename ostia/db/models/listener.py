from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
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
    from ostia.db.models.load_balancer import LoadBalancer
    from ostia.db.models.pool import Pool


class Listener(IdMixin, ProjectMixin, NamedMixin, DescribedMixin, StatusMixin, TimestampMixin, TaggedMixin, Base):
    __tablename__ = "listener"

    load_balancer_id: Mapped[str] = mapped_column(ForeignKey("load_balancer.id"), index=True)
    protocol: Mapped[str] = mapped_column(String(32))
    protocol_port: Mapped[int] = mapped_column(Integer)
    connection_limit: Mapped[int] = mapped_column(Integer, default=-1)
    default_pool_id: Mapped[str | None] = mapped_column(
        ForeignKey("pool.id", use_alter=True, ondelete="SET NULL"), nullable=True)
    default_tls_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sni_container_refs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    client_authentication: Mapped[str] = mapped_column(String(16), default="NONE")
    client_ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    client_crl_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    insert_headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timeout_client_data: Mapped[int] = mapped_column(Integer, default=50000)
    timeout_member_connect: Mapped[int] = mapped_column(Integer, default=5000)
    timeout_member_data: Mapped[int] = mapped_column(Integer, default=50000)
    timeout_tcp_inspect: Mapped[int] = mapped_column(Integer, default=0)
    allowed_cidrs: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    tls_ciphers: Mapped[str | None] = mapped_column(Text, nullable=True)
    tls_versions: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    alpn_protocols: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    hsts_max_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hsts_include_subdomains: Mapped[bool] = mapped_column(Boolean, default=False)
    hsts_preload: Mapped[bool] = mapped_column(Boolean, default=False)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="listeners")
    default_pool: Mapped[Pool | None] = relationship(foreign_keys=[default_pool_id])
    l7policies: Mapped[list[L7Policy]] = relationship(
        back_populates="listener", order_by="L7Policy.position", foreign_keys="L7Policy.listener_id")
