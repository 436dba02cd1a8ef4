from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ostia.db.models.base import Base


class Tag(Base):
    """Tags of any taggable resource, keyed by the resource's id (ids are unique UUIDs)."""

    __tablename__ = "tag"
    resource_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Exact (binary, no-pad) collation on MariaDB/MySQL, set by the migration: see `_exact_collation` there.
    tag: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
