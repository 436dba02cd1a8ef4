"""Throw-away databases on the real servers of this machine (and SQLite files)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MYSQL_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/"
BACKENDS = [b for b in os.environ.get("OSTIA_TEST_DBS", "sqlite,postgresql,mysql").split(",") if b]


@contextlib.contextmanager
def fresh_database(backend: str, tmp_dir: str) -> Iterator[str]:
    """Yield the URL of a new empty database; drop it afterwards."""
    from sqlalchemy import create_engine, text

    name = f"ostia_test_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        yield f"sqlite:///{os.path.join(tmp_dir, name)}.sqlite"
        return
    admin_url, url = {
        "postgresql": (PG_ADMIN, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"),
        "mysql": (MYSQL_ADMIN, f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"),
    }[backend]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield url
    finally:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()
