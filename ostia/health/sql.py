"""The health manager's bulk writes, per dialect: PostgreSQL and SQLite `ON CONFLICT`, MySQL/MariaDB
`ON DUPLICATE KEY UPDATE`. Each is one executemany (psycopg pipelines it), never one statement per amphora."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session

from ostia.db.models import AmphoraHealth, ListenerStatistics

HEALTH = AmphoraHealth.__table__
STATS = ListenerStatistics.__table__
COUNTERS = ("bytes_in", "bytes_out", "total_connections", "request_errors")


def _greatest(dialect: str, a: Any, b: Any) -> Any:
    # SQLite spells GREATEST as the two-argument scalar max().
    return func.max(a, b) if dialect == "sqlite" else func.greatest(a, b)


def _insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect in ("mysql", "mariadb"):
        return mysql.insert(table)
    raise NotImplementedError(f"no bulk upsert for {dialect}")


def upsert_health(session: Session, dialect: str, rows: list[dict[str, Any]]) -> None:
    """rows: b_id, b_seq, b_hash, b_last. last_update and seq never go backwards (two health managers may
    commit out of order); busy is left alone (it belongs to whoever fails the amphora over)."""
    if not rows:
        return
    values = [{"amphora_id": r["b_id"], "last_update": r["b_last"], "seq": r["b_seq"],
               "applied_config_hash": r["b_hash"], "busy": False} for r in sorted(rows, key=lambda r: r["b_id"])]
    ins = _insert(dialect, HEALTH)
    if dialect in ("mysql", "mariadb"):
        new = ins.inserted
        stmt = ins.on_duplicate_key_update(
            last_update=_greatest(dialect, HEALTH.c.last_update, new.last_update),
            seq=_greatest(dialect, HEALTH.c.seq, new.seq), applied_config_hash=new.applied_config_hash)
    else:
        new = ins.excluded
        stmt = ins.on_conflict_do_update(index_elements=[HEALTH.c.amphora_id], set_={
            "last_update": _greatest(dialect, HEALTH.c.last_update, new.last_update),
            "seq": _greatest(dialect, HEALTH.c.seq, new.seq), "applied_config_hash": new.applied_config_hash})
    session.execute(stmt, values)


def update_health(session: Session, dialect: str, rows: list[dict[str, Any]], refresh: bool) -> None:
    """Existing rows only: the sequence number and applied hash, and last_update too when `refresh`."""
    if not rows:
        return
    values: dict[str, Any] = {"seq": _greatest(dialect, HEALTH.c.seq, bindparam("b_seq")),
                              "applied_config_hash": bindparam("b_hash")}
    if refresh:
        values["last_update"] = _greatest(dialect, HEALTH.c.last_update, bindparam("b_last"))
    stmt = update(AmphoraHealth).where(AmphoraHealth.amphora_id == bindparam("b_id")).values(**values)
    session.connection().execute(stmt, sorted(rows, key=lambda r: r["b_id"]))


def add_listener_stats(session: Session, dialect: str, rows: list[dict[str, Any]]) -> None:
    """Counters add up (the amphora sends deltas); active_connections is a gauge and is replaced."""
    if not rows:
        return
    ins = _insert(dialect, STATS)
    if dialect in ("mysql", "mariadb"):
        new = ins.inserted
        stmt = ins.on_duplicate_key_update(active_connections=new.active_connections,
                                           **{c: STATS.c[c] + new[c] for c in COUNTERS})
    else:
        new = ins.excluded
        stmt = ins.on_conflict_do_update(
            index_elements=[STATS.c.listener_id, STATS.c.amphora_id],
            set_={"active_connections": new.active_connections, **{c: STATS.c[c] + new[c] for c in COUNTERS}})
    session.execute(stmt, rows)
