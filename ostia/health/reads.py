"""What a heartbeat batch needs to know, read for all its amphorae at once.

Every batch reads one row per amphora (its status, its health row's seq, and its load balancer's row, which tells
whether a cached tree is still current); the listeners, pools and members of a load balancer are read only when
its tree is not cached or stale (three more queries for all of them). PostgreSQL gets the ids as one array
(JSON) parameter; the others an IN list per 1000 ids.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select, text

from ostia.db.models import Amphora, AmphoraHealth, Listener, LoadBalancer, Member, Pool
from ostia.domain.enums import ProvisioningStatus
from ostia.health.rollup import LbTree, ListenerRow, PoolRow


@dataclasses.dataclass(slots=True)
class AmphoraState:
    status: str
    load_balancer_id: str | None
    db_seq: int


@dataclasses.dataclass(slots=True)
class LbRow:
    """The load balancer row. `version` changes whenever the API or a flow touches the LB (every change below
    it passes through PENDING_* and back with a new updated_at), or someone else sets its operating status."""

    id: str
    provisioning_status: str
    operating_status: str
    enabled: bool
    updated_at: Any

    @property
    def version(self) -> tuple[Any, ...]:
        return self.provisioning_status, self.operating_status, self.enabled, self.updated_at


_PG = {
    "amphorae": text(
        "SELECT a.id, a.status, a.load_balancer_id, h.seq, lb.provisioning_status, lb.operating_status, "
        "lb.admin_state_up, lb.updated_at FROM amphora a LEFT JOIN amphora_health h ON h.amphora_id = a.id "
        "LEFT JOIN load_balancer lb ON lb.id = a.load_balancer_id AND lb.provisioning_status != 'DELETED' "
        "WHERE a.id IN (SELECT json_array_elements_text(CAST(:ids AS json)))"),
    "listeners": text("SELECT id, load_balancer_id, admin_state_up, operating_status FROM listener "
                      "WHERE load_balancer_id IN (SELECT json_array_elements_text(CAST(:ids AS json)))"),
    "pools": text("SELECT id, load_balancer_id, operating_status FROM pool "
                  "WHERE load_balancer_id IN (SELECT json_array_elements_text(CAST(:ids AS json)))"),
    "members": text("SELECT m.id, m.pool_id, m.operating_status FROM member m JOIN pool p ON p.id = m.pool_id "
                    "WHERE p.load_balancer_id IN (SELECT json_array_elements_text(CAST(:ids AS json)))"),
}


def _generic(kind: str, chunk: Sequence[str]) -> Any:
    if kind == "amphorae":
        return (select(Amphora.id, Amphora.status, Amphora.load_balancer_id, AmphoraHealth.seq,
                       LoadBalancer.provisioning_status, LoadBalancer.operating_status, LoadBalancer.admin_state_up,
                       LoadBalancer.updated_at)
                .outerjoin(AmphoraHealth, AmphoraHealth.amphora_id == Amphora.id)
                .outerjoin(LoadBalancer, (LoadBalancer.id == Amphora.load_balancer_id)
                           & (LoadBalancer.provisioning_status != ProvisioningStatus.DELETED))
                .where(Amphora.id.in_(chunk)))
    if kind == "listeners":
        return select(Listener.id, Listener.load_balancer_id, Listener.admin_state_up, Listener.operating_status) \
            .where(Listener.load_balancer_id.in_(chunk))
    if kind == "pools":
        return select(Pool.id, Pool.load_balancer_id, Pool.operating_status).where(Pool.load_balancer_id.in_(chunk))
    return select(Member.id, Member.pool_id, Member.operating_status) \
        .join(Pool, Pool.id == Member.pool_id).where(Pool.load_balancer_id.in_(chunk))


def _rows(conn: Connection, kind: str, ids: Sequence[str]) -> Iterable[Any]:
    if not ids:
        return
    if conn.dialect.name == "postgresql":
        # The ids as one JSON parameter (psycopg dumps a list as a text array with a regex per element), and
        # fetchall: far cheaper than row by row.
        yield from conn.execute(_PG[kind], {"ids": json.dumps(list(ids))}).all()
        return
    for i in range(0, len(ids), 1000):
        yield from conn.execute(_generic(kind, ids[i:i + 1000])).all()


def amphorae(conn: Connection, amphora_ids: Sequence[str]) -> tuple[dict[str, AmphoraState], dict[str, LbRow]]:
    """The amphorae (unknown ones absent) and their load balancers' rows (DELETED ones absent)."""
    amps: dict[str, AmphoraState] = {}
    lbs: dict[str, LbRow] = {}
    for amp_id, status, lb_id, seq, prov, oper, enabled, updated_at in _rows(conn, "amphorae", sorted(amphora_ids)):
        amps[amp_id] = AmphoraState(status, lb_id, -1 if seq is None else int(seq))
        if lb_id is not None and prov is not None:
            lbs[lb_id] = LbRow(lb_id, prov, oper, bool(enabled), updated_at)
    return amps, lbs


def trees(conn: Connection, lbs: Sequence[LbRow]) -> dict[str, LbTree]:
    """The trees (listeners, pools, members with their operating statuses) of these load balancers."""
    out = {lb.id: LbTree(lb.id, lb.provisioning_status, lb.operating_status, lb.enabled) for lb in lbs}
    lb_ids = sorted(out)
    for l_id, lb_id, enabled, oper in _rows(conn, "listeners", lb_ids):
        out[lb_id].listeners[l_id] = ListenerRow(l_id, bool(enabled), oper)
    pools: dict[str, PoolRow] = {}
    for p_id, lb_id, oper in _rows(conn, "pools", lb_ids):
        pools[p_id] = out[lb_id].pools[p_id] = PoolRow(p_id, oper)
    for m_id, p_id, oper in _rows(conn, "members", lb_ids):
        pools[p_id].members[m_id] = oper
    return out
