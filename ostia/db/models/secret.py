"""TLS secrets of the local certificate manager (`ostia secret create`); the payload is encrypted."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from ostia.db.models.base import Base, IdMixin, NamedMixin, ProjectMixin, Timestamp, utcnow


class TlsSecret(IdMixin, ProjectMixin, NamedMixin, Base):
    __tablename__ = "tls_secret"
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    # A Fernet token (ASCII) over the JSON of the bundle: private keys are never stored in clear.
    payload: Mapped[str] = mapped_column(Text)
