"""Which amphorae a load balancer failover replaces one at a time, and in what order."""

from __future__ import annotations

from collections.abc import Iterable

from ostia.domain.enums import AmphoraRole, AmphoraStatus, Topology

# The standby first: replacing it never moves the VIP; the MASTER goes last, when a fresh peer can take over.
ROLLING_ORDER = {Topology.SINGLE: (AmphoraRole.STANDALONE,),
                 Topology.ACTIVE_STANDBY: (AmphoraRole.BACKUP, AmphoraRole.MASTER)}


def rolling_order(topology: str | None, amphorae: Iterable[tuple[str, str | None, str]]) -> list[str]:
    """Ids of the load balancer's amphorae ((id, role, status) of each) in replacement order, or [] when the
    set is not the one the topology needs (an amphora missing or doubled): then the failover builds anew."""
    roles = ROLLING_ORDER.get(Topology(topology), ()) if topology else ()
    if not roles:
        return []
    present = [(amp_id, role) for amp_id, role, status in amphorae if status != AmphoraStatus.DELETED]
    if sorted(str(role) for _, role in present) != sorted(str(role) for role in roles):
        return []
    by_role = {role: amp_id for amp_id, role in present}
    return [by_role[role] for role in roles]
