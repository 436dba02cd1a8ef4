"""Declarative base and the columns most resources share. Column names are the API's field names."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, MetaData, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# MySQL/MariaDB DATETIME drops fractions unless asked: keep microseconds so creation order is stable.
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def utcnow() -> dt.datetime:
    """Naive UTC, as Octavia stores and renders it."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class IdMixin:
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)


class StatusMixin:
    provisioning_status: Mapped[str] = mapped_column(String(16), index=True)
    operating_status: Mapped[str] = mapped_column(String(16))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)


class ProjectMixin:
    project_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)


class NamedMixin:
    name: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)


class DescribedMixin:
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)


class TaggedMixin:
    """Gives a resource its tags (rows of `tag` keyed by the resource id), loaded with the row."""

    @declared_attr
    def tag_rows(cls) -> Mapped[list[Any]]:
        return relationship("Tag", primaryjoin=f"foreign(Tag.resource_id) == {cls.__name__}.id",  # type: ignore[attr-defined]
                            lazy="selectin", viewonly=True, order_by="Tag.tag")

    @property
    def tags(self) -> list[str]:
        return [t.tag for t in self.tag_rows]
