"""`LocalCertManager`: TLS secrets in the controller's own database, encrypted with Fernet.

Refs look like `ostia://secrets/<uuid>`. A secret belongs to one project; a lookup for another project
fails exactly like an unknown ref, so a caller cannot probe other projects' refs. `project_id=None` (the
worker, admin tooling) reads any secret.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import uuid

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from oslo_config import cfg
from sqlalchemy import Engine, create_engine, delete, select
from sqlalchemy.pool import NullPool

from ostia.db.engine import Database
from ostia.db.models import TlsSecret
from ostia.domain.errors import CertificateRetrievalError
from ostia.domain.secrets import TlsBundle, crl_of

REF_PREFIX = "ostia://secrets/"


def ref_for(secret_id: str) -> str:
    return REF_PREFIX + secret_id


def secret_id(ref: str) -> str | None:
    """The row id a ref names, or None when the string is not one of our refs."""
    if not ref.startswith(REF_PREFIX):
        return None
    try:
        return str(uuid.UUID(ref[len(REF_PREFIX):]))
    except ValueError:
        return None


def fernet_for(passphrase: str) -> Fernet:
    # HKDF, not a password hash: the option is meant to be a long random string, and every API request that
    # names a ref derives nothing (the Fernet is built once per manager).
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"ostia tls_secret payload v1").derive(passphrase.encode())
    return Fernet(base64.urlsafe_b64encode(key))


@dataclasses.dataclass(frozen=True)
class SecretInfo:
    ref: str
    project_id: str | None
    name: str | None
    created_at: dt.datetime


def _encode(bundle: TlsBundle) -> bytes:
    return json.dumps({"certificate": bundle.certificate.decode(), "intermediates": bundle.intermediates.decode(),
                       "private_key": bundle.private_key.decode() if bundle.private_key else None,
                       "crl": bundle.crl.decode()}).encode()


def _decode(raw: bytes) -> TlsBundle:
    doc = json.loads(raw)
    key = doc.get("private_key")
    return TlsBundle(certificate=doc["certificate"].encode(), intermediates=doc["intermediates"].encode(),
                     private_key=key.encode() if key else None, crl=doc["crl"].encode())


class LocalCertManager:
    def __init__(self, conf: cfg.ConfigOpts, db: Database) -> None:
        self.db = db
        self._fernet = fernet_for(conf.certificates.secret_encryption_key)
        self._reader = self._read_engine(db)

    @staticmethod
    def _read_engine(db: Database) -> Engine:
        """Where lookups read. The API resolves refs inside its own transaction; on SQLite every transaction of
        the shared engine starts with BEGIN IMMEDIATE, so a second one from the same thread would wait for the
        first forever. A plain (deferred) SQLite connection reads the WAL snapshot without any lock instead.
        Server databases just use another pooled connection."""
        if db.dialect != "sqlite":
            return db.engine
        return create_engine(db.engine.url, poolclass=NullPool,
                             connect_args={"check_same_thread": False, "timeout": 30})

    # -- the CertManager protocol

    def get(self, ref: str, project_id: str | None) -> TlsBundle:
        row_id = secret_id(ref)
        if row_id is None:
            raise CertificateRetrievalError([ref])
        with self._reader.connect() as conn:
            row = conn.execute(select(TlsSecret.project_id, TlsSecret.payload)
                               .where(TlsSecret.id == row_id)).first()
        if row is None or (project_id is not None and row.project_id != project_id):
            raise CertificateRetrievalError([ref])
        try:
            return _decode(self._fernet.decrypt(row.payload.encode()))
        except InvalidToken:
            # Another encryption key than the one that stored it: unreadable, as if it were gone.
            raise CertificateRetrievalError([ref]) from None

    def get_crl(self, ref: str, project_id: str | None) -> bytes:
        return crl_of(self.get(ref, project_id), ref)

    def grant_access(self, ref: str, project_id: str | None, auth_token: str | None) -> None:
        """Nothing to share: the controller reads the table directly and `get` checks the project."""

    # -- management (`ostia secret ...`)

    def store(self, bundle: TlsBundle, project_id: str | None, name: str | None = None) -> str:
        token = self._fernet.encrypt(_encode(bundle)).decode()
        with self.db.session() as session:
            row = TlsSecret(project_id=project_id, name=name, payload=token)
            session.add(row)
            session.flush()
            return ref_for(row.id)

    def list_secrets(self, project_id: str | None = None) -> list[SecretInfo]:
        query = select(TlsSecret.id, TlsSecret.project_id, TlsSecret.name, TlsSecret.created_at)
        if project_id is not None:
            query = query.where(TlsSecret.project_id == project_id)
        with self.db.session() as session:
            rows = session.execute(query.order_by(TlsSecret.created_at, TlsSecret.id)).all()
        return [SecretInfo(ref_for(r.id), r.project_id, r.name, r.created_at) for r in rows]

    def delete(self, ref: str, project_id: str | None = None) -> bool:
        """False when there was nothing to delete (unknown ref, or another project's)."""
        row_id = secret_id(ref)
        if row_id is None:
            return False
        query = delete(TlsSecret).where(TlsSecret.id == row_id)
        if project_id is not None:
            query = query.where(TlsSecret.project_id == project_id)
        with self.db.session() as session:
            return bool(session.execute(query).rowcount)  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._reader is not self.db.engine:
            self._reader.dispose()
