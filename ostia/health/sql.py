"""The health manager's bulk writes, per dialect: PostgreSQL and SQLite `ON CONFLICT`, MySQL/MariaDB
`ON DUPLICATE KEY UPDATE`. Each is one executemany (psycopg pipelines it), never one statement per amphora."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import bindparam, func, text, update
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
    if dialect == "postgresql":
        session.connection().execute(_PG_HEALTH_UPSERT, _json_rows(rows))
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
    if dialect == "postgresql":
        session.connection().execute(_PG_HEALTH_REFRESH if refresh else _PG_HEALTH_SEQ, _json_rows(rows))
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
    if dialect == "postgresql":
        session.connection().execute(_PG_STATS_UPSERT, _json_rows(rows))
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


# -- PostgreSQL: one statement per batch with the rows as ONE JSON parameter (json_to_recordset): no per-row
# protocol round trips, and psycopg's text array dumping (a regex per element) is avoided ---------------------
_HEALTH_ROWS = ("json_to_recordset(CAST(:rows AS json)) AS v(b_id varchar, b_last timestamp, b_seq bigint, "
                "b_hash varchar)")
_PG_HEALTH_UPSERT = text(f"""
INSERT INTO amphora_health (amphora_id, last_update, seq, applied_config_hash, busy)
SELECT v.b_id, v.b_last, v.b_seq, v.b_hash, false FROM {_HEALTH_ROWS} ORDER BY v.b_id
ON CONFLICT (amphora_id) DO UPDATE SET
    last_update = GREATEST(amphora_health.last_update, excluded.last_update),
    seq = GREATEST(amphora_health.seq, excluded.seq),
    applied_config_hash = excluded.applied_config_hash""")

_PG_HEALTH_UPDATE = """
UPDATE amphora_health AS h SET seq = GREATEST(h.seq, v.b_seq), applied_config_hash = v.b_hash{refresh}
FROM {rows} WHERE h.amphora_id = v.b_id"""
_PG_HEALTH_REFRESH = text(_PG_HEALTH_UPDATE.format(
    refresh=", last_update = GREATEST(h.last_update, v.b_last)", rows=_HEALTH_ROWS))
_PG_HEALTH_SEQ = text(_PG_HEALTH_UPDATE.format(refresh="", rows=_HEALTH_ROWS))

_PG_STATS_UPSERT = text("""
INSERT INTO listener_statistics (listener_id, amphora_id, bytes_in, bytes_out, total_connections, request_errors,
                                 active_connections)
SELECT v.listener_id, v.amphora_id, v.bytes_in, v.bytes_out, v.total_connections, v.request_errors,
       v.active_connections
FROM json_to_recordset(CAST(:rows AS json)) AS v(listener_id varchar, amphora_id varchar, bytes_in bigint,
     bytes_out bigint, total_connections bigint, request_errors bigint, active_connections int)
ORDER BY v.listener_id, v.amphora_id
ON CONFLICT (listener_id, amphora_id) DO UPDATE SET
    bytes_in = listener_statistics.bytes_in + excluded.bytes_in,
    bytes_out = listener_statistics.bytes_out + excluded.bytes_out,
    total_connections = listener_statistics.total_connections + excluded.total_connections,
    request_errors = listener_statistics.request_errors + excluded.request_errors,
    active_connections = excluded.active_connections""")


def _json_rows(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {"rows": json.dumps(rows, default=_iso, separators=(",", ":"))}


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {value!r}")
