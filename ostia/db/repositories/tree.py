"""Bulk status changes and deletes over one load balancer's object tree (used by worker tasks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session

from ostia.db.models import (
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    ListenerStatistics,
    LoadBalancer,
    Member,
    Pool,
    Tag,
    utcnow,
)
from ostia.domain.enums import OperatingStatus, ProvisioningStatus

MODELS: dict[str, Any] = {
    "load_balancer": LoadBalancer, "listener": Listener, "pool": Pool, "member": Member,
    "health_monitor": HealthMonitor, "l7policy": L7Policy, "l7rule": L7Rule,
}
ACTIVATING = (ProvisioningStatus.PENDING_CREATE, ProvisioningStatus.PENDING_UPDATE)
# These report ONLINE as soon as they are active (§4.2); the rest wait for heartbeats.
ONLINE_WHEN_ACTIVE = (HealthMonitor, L7Policy, L7Rule)


def _ids_under(lb_id: str) -> dict[Any, Select[Any]]:
    listeners = select(Listener.id).where(Listener.load_balancer_id == lb_id)
    pools = select(Pool.id).where(Pool.load_balancer_id == lb_id)
    policies = select(L7Policy.id).where(L7Policy.listener_id.in_(listeners))
    return {
        Listener: listeners,
        Pool: pools,
        Member: select(Member.id).where(Member.pool_id.in_(pools)),
        HealthMonitor: select(HealthMonitor.id).where(HealthMonitor.pool_id.in_(pools)),
        L7Policy: policies,
        L7Rule: select(L7Rule.id).where(L7Rule.l7policy_id.in_(policies)),
    }


def _set(session: Session, model: Any, where: list[Any], **values: Any) -> None:
    session.execute(update(model).where(*where).values(**values).execution_options(synchronize_session=False))


def activate_tree(session: Session, lb_id: str) -> None:
    """Every PENDING_CREATE/UPDATE object under the LB, and the LB, become ACTIVE."""
    now = utcnow()
    for model, ids in _ids_under(lb_id).items():
        pending = [model.id.in_(ids), model.provisioning_status.in_(ACTIVATING)]
        if model in ONLINE_WHEN_ACTIVE:
            _set(session, model, [*pending, model.admin_state_up.is_(True)],
                 operating_status=OperatingStatus.ONLINE)
            _set(session, model, [*pending, model.admin_state_up.is_(False)],
                 operating_status=OperatingStatus.OFFLINE)
        _set(session, model, pending, provisioning_status=ProvisioningStatus.ACTIVE, updated_at=now)
    _set(session, LoadBalancer, [LoadBalancer.id == lb_id, LoadBalancer.provisioning_status.in_(ACTIVATING)],
         provisioning_status=ProvisioningStatus.ACTIVE, updated_at=now)


def fail_targets(session: Session, lb_id: str, kind: str, ids: list[str]) -> None:
    """Revert of a child operation: the targets go ERROR, everything else pending goes back to ACTIVE."""
    now = utcnow()
    model = MODELS[kind]
    if ids:
        _set(session, model, [model.id.in_(ids)], provisioning_status=ProvisioningStatus.ERROR, updated_at=now)
    pending = (*ACTIVATING, ProvisioningStatus.PENDING_DELETE)
    for other, under in _ids_under(lb_id).items():
        _set(session, other, [other.id.in_(under), other.provisioning_status.in_(pending)],
             provisioning_status=ProvisioningStatus.ACTIVE, updated_at=now)
    _set(session, LoadBalancer, [LoadBalancer.id == lb_id, LoadBalancer.provisioning_status.in_(pending)],
         provisioning_status=ProvisioningStatus.ACTIVE, updated_at=now)


def fail_load_balancer(session: Session, lb_id: str) -> None:
    """Revert of an LB-level operation: the LB and whatever was pending in its tree go ERROR."""
    now = utcnow()
    pending = (*ACTIVATING, ProvisioningStatus.PENDING_DELETE)
    for model, under in _ids_under(lb_id).items():
        _set(session, model, [model.id.in_(under), model.provisioning_status.in_(pending)],
             provisioning_status=ProvisioningStatus.ERROR, updated_at=now)
    _set(session, LoadBalancer, [LoadBalancer.id == lb_id, LoadBalancer.provisioning_status != "DELETED"],
         provisioning_status=ProvisioningStatus.ERROR, updated_at=now)


def _forget(session: Session, ids: Any) -> None:
    session.execute(delete(Tag).where(Tag.resource_id.in_(ids)))


def delete_objects(session: Session, kind: str, ids: list[str]) -> None:
    """Remove rows (and what hangs below them); idempotent, so a resumed flow can run it again."""
    if not ids:
        return
    if kind == "member":
        _forget(session, ids)
        session.execute(delete(Member).where(Member.id.in_(ids)))
    elif kind == "health_monitor":
        pools = select(HealthMonitor.pool_id).where(HealthMonitor.id.in_(ids)).scalar_subquery()
        _set(session, Member, [Member.pool_id.in_(pools)], operating_status=OperatingStatus.NO_MONITOR)
        _forget(session, ids)
        session.execute(delete(HealthMonitor).where(HealthMonitor.id.in_(ids)))
    elif kind == "l7rule":
        _forget(session, ids)
        session.execute(delete(L7Rule).where(L7Rule.id.in_(ids)))
    elif kind == "l7policy":
        listeners = list(session.scalars(select(L7Policy.listener_id).where(L7Policy.id.in_(ids)).distinct()))
        delete_objects(session, "l7rule", list(session.scalars(select(L7Rule.id).where(L7Rule.l7policy_id.in_(ids)))))
        _forget(session, ids)
        session.execute(delete(L7Policy).where(L7Policy.id.in_(ids)))
        for listener_id in listeners:
            renumber_policies(session, listener_id)
    elif kind == "pool":
        _set(session, Listener, [Listener.default_pool_id.in_(ids)], default_pool_id=None)
        delete_objects(session, "member", list(session.scalars(select(Member.id).where(Member.pool_id.in_(ids)))))
        delete_objects(session, "health_monitor",
                       list(session.scalars(select(HealthMonitor.id).where(HealthMonitor.pool_id.in_(ids)))))
        _set(session, L7Policy, [L7Policy.redirect_pool_id.in_(ids)], redirect_pool_id=None)
        _forget(session, ids)
        session.execute(delete(Pool).where(Pool.id.in_(ids)))
    elif kind == "listener":
        delete_objects(session, "l7policy",
                       list(session.scalars(select(L7Policy.id).where(L7Policy.listener_id.in_(ids)))))
        session.execute(delete(ListenerStatistics).where(ListenerStatistics.listener_id.in_(ids)))
        _forget(session, ids)
        session.execute(delete(Listener).where(Listener.id.in_(ids)))
    else:
        raise ValueError(f"cannot delete {kind}")


def renumber_policies(session: Session, listener_id: str) -> None:
    policies = session.scalars(select(L7Policy).where(L7Policy.listener_id == listener_id)
                               .order_by(L7Policy.position, L7Policy.created_at))
    for index, policy in enumerate(policies, start=1):
        if policy.position != index:
            policy.position = index


def delete_load_balancer_tree(session: Session, lb_id: str) -> None:
    """Cascade: children removed; the LB itself is soft-deleted to DELETED (hidden from the API)."""
    delete_objects(session, "listener", list(session.scalars(_ids_under(lb_id)[Listener])))
    delete_objects(session, "pool", list(session.scalars(_ids_under(lb_id)[Pool])))
    _forget(session, [lb_id])
    _set(session, LoadBalancer, [LoadBalancer.id == lb_id], provisioning_status=ProvisioningStatus.DELETED,
         operating_status=OperatingStatus.OFFLINE, updated_at=utcnow())
