"""What a heartbeat batch needs to know, read for all its amphorae at once: four queries per batch whatever
its size (PostgreSQL gets the ids as one array parameter; the others an IN list per 1000 ids)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select, text

from ostia.db.models import Amphora, AmphoraHealth, Listener, LoadBalancer, Member, Pool
from ostia.domain.enums import ProvisioningStatus
from ostia.health.rollup import LbTree, ListenerRow, PoolRow


@dataclasses.dataclass
class AmphoraState:
    status: str
    load_balancer_id: str | None
    db_seq: int


_PG = {
    "amphorae": text(
        "SELECT a.id, a.status, a.load_balancer_id, h.seq, lb.provisioning_status, lb.operating_status, "
        "lb.admin_state_up FROM amphora a LEFT JOIN amphora_health h ON h.amphora_id = a.id "
        "LEFT JOIN load_balancer lb ON lb.id = a.load_balancer_id AND lb.provisioning_status != 'DELETED' "
        "WHERE a.id = ANY(CAST(:ids AS varchar[]))"),
    "listeners": text("SELECT id, load_balancer_id, admin_state_up, operating_status FROM listener "
                      "WHERE load_balancer_id = ANY(CAST(:ids AS varchar[]))"),
    "pools": text("SELECT id, load_balancer_id, operating_status FROM pool "
                  "WHERE load_balancer_id = ANY(CAST(:ids AS varchar[]))"),
    "members": text("SELECT m.id, m.pool_id, m.operating_status FROM member m JOIN pool p ON p.id = m.pool_id "
                    "WHERE p.load_balancer_id = ANY(CAST(:ids AS varchar[]))"),
}


def _generic(kind: str, chunk: Sequence[str]) -> Any:
    if kind == "amphorae":
        return (select(Amphora.id, Amphora.status, Amphora.load_balancer_id, AmphoraHealth.seq,
                       LoadBalancer.provisioning_status, LoadBalancer.operating_status, LoadBalancer.admin_state_up)
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
        yield from conn.execute(_PG[kind], {"ids": list(ids)}).all()  # fetchall: far cheaper than row by row
        return
    for i in range(0, len(ids), 1000):
        yield from conn.execute(_generic(kind, ids[i:i + 1000])).all()


def amphorae_and_trees(conn: Connection, amphora_ids: Sequence[str]) -> tuple[dict[str, AmphoraState],
                                                                             dict[str, LbTree]]:
    """The amphorae (unknown ones absent) and the trees of their load balancers (DELETED ones absent)."""
    amps: dict[str, AmphoraState] = {}
    trees: dict[str, LbTree] = {}
    for amp_id, status, lb_id, seq, prov, oper, enabled in _rows(conn, "amphorae", sorted(amphora_ids)):
        amps[amp_id] = AmphoraState(status, lb_id, -1 if seq is None else int(seq))
        if lb_id is not None and prov is not None and lb_id not in trees:
            trees[lb_id] = LbTree(lb_id, prov, oper, bool(enabled))
    lb_ids = sorted(trees)
    for l_id, lb_id, enabled, oper in _rows(conn, "listeners", lb_ids):
        trees[lb_id].listeners[l_id] = ListenerRow(l_id, bool(enabled), oper)
    pools: dict[str, PoolRow] = {}
    for p_id, lb_id, oper in _rows(conn, "pools", lb_ids):
        pools[p_id] = trees[lb_id].pools[p_id] = PoolRow(p_id, oper)
    for m_id, p_id, oper in _rows(conn, "members", lb_ids):
        pools[p_id].members[m_id] = oper
    return amps, trees
