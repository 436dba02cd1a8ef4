"""The health manager's bulk writes, per dialect: PostgreSQL and SQLite `ON CONFLICT`, MySQL/MariaDB
`ON DUPLICATE KEY UPDATE`. Each is one executemany (psycopg pipelines it), never one statement per amphora."""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
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
        session.connection().execute(_PG_HEALTH_UPSERT, _json_rows(rows, _HEALTH_KEYS))
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
        session.connection().execute(_PG_HEALTH_REFRESH if refresh else _PG_HEALTH_SEQ, _json_rows(rows, _HEALTH_KEYS))
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
        session.connection().execute(_PG_STATS_UPSERT, _json_rows(rows, _STATS_KEYS))
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


def set_operating_statuses(session: Session, table: Any, changes: dict[str, str]) -> None:
    """changes: object id -> new operating_status, for one of the load_balancer/listener/pool/member tables."""
    if not changes:
        return
    conn = session.connection()  # Core, not ORM, statements: a third of the cost
    by_status: dict[str, list[str]] = {}
    for obj_id, status in changes.items():
        by_status.setdefault(status, []).append(obj_id)
    for status in sorted(by_status):
        ids = sorted(by_status[status])  # one lock order for every writer
        if conn.dialect.name == "postgresql":
            # One statement text whatever the number of ids (an expanding IN is rendered and parsed anew each time).
            conn.execute(_pg_set_status(table.name), {"status": status, "ids": json.dumps(ids)})
            continue
        for i in range(0, len(ids), 1000):
            conn.execute(update(table).where(table.c.id.in_(ids[i:i + 1000])).values(operating_status=status))


@functools.cache
def _pg_set_status(table: str) -> Any:
    return text(f"UPDATE {table} SET operating_status = :status "
                "WHERE id IN (SELECT json_array_elements_text(CAST(:ids AS json)))")


# -- PostgreSQL: one statement per batch with the rows as ONE JSON parameter, an array of arrays (half the cost
# of encoding objects): no per-row protocol round trips, and psycopg's text array dumping (a regex per element)
# is avoided ---------------------------------------------------------------------------------------------------
_HEALTH_KEYS = ("b_id", "b_last", "b_seq", "b_hash")
_HEALTH_ROWS = ("(SELECT r->>0 AS b_id, CAST(r->>1 AS timestamp) AS b_last, CAST(r->>2 AS bigint) AS b_seq, "
                "r->>3 AS b_hash FROM json_array_elements(CAST(:rows AS json)) AS r) AS v")
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

_STATS_KEYS = ("listener_id", "amphora_id", "bytes_in", "bytes_out", "total_connections", "request_errors",
               "active_connections")
_PG_STATS_UPSERT = text("""
INSERT INTO listener_statistics (listener_id, amphora_id, bytes_in, bytes_out, total_connections, request_errors,
                                 active_connections)
SELECT r->>0, r->>1, CAST(r->>2 AS bigint), CAST(r->>3 AS bigint), CAST(r->>4 AS bigint), CAST(r->>5 AS bigint),
       CAST(r->>6 AS int)
FROM json_array_elements(CAST(:rows AS json)) AS r
ORDER BY 1, 2
ON CONFLICT (listener_id, amphora_id) DO UPDATE SET
    bytes_in = listener_statistics.bytes_in + excluded.bytes_in,
    bytes_out = listener_statistics.bytes_out + excluded.bytes_out,
    total_connections = listener_statistics.total_connections + excluded.total_connections,
    request_errors = listener_statistics.request_errors + excluded.request_errors,
    active_connections = excluded.active_connections""")


def _json_rows(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, str]:
    return {"rows": json.dumps(list(map(operator.itemgetter(*keys), rows)), default=_iso, separators=(",", ":"))}


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {value!r}")
