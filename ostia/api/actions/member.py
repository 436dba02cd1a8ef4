"""Member writes (§2.4, §3.8, §3.9, §4), including the batch update of a pool's whole member list."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ostia.api.actions import common
from ostia.api.actions.network import check_subnet
from ostia.api.actions.pool import affected_listeners, load_for_change
from ostia.api.context import RequestContext
from ostia.api.schemas import member as schema
from ostia.api.schemas.member import DEFAULT_WEIGHT, MemberPOST, MemberPUT
from ostia.api.services import ApiServices
from ostia.db.models import Flavor, FlavorProfile, Listener, LoadBalancer, Member, Pool, Tag, new_id, utcnow
from ostia.domain import errors, rules_member
from ostia.domain.enums import OperatingStatus, ProvisioningStatus, VnicType

NO_SRIOV = "The load balancer flavor does not allow SR-IOV member ports."
# Fields a matched member takes from a batch item: omitted ones go back to their POST defaults (§2.4).
RESET_FIELDS = ("weight", "backup", "admin_state_up", "monitor_address", "monitor_port")
# Fields a matched member only takes when the batch item names them.
OPTIONAL_FIELDS = ("name", "subnet_id", "tags")


def _vips(lb: LoadBalancer) -> list[str | None]:
    return [lb.vip_address, *(v.ip_address for v in lb.additional_vips)]


def _sriov_allowed(session: Session, lb: LoadBalancer) -> bool:
    if not lb.flavor_id:
        return False
    flavor = session.get(Flavor, lb.flavor_id)
    profile = session.get(FlavorProfile, flavor.flavor_profile_id) if flavor is not None else None
    try:
        data = json.loads(profile.flavor_data) if profile is not None else {}
    except ValueError:
        return False
    return isinstance(data, dict) and bool(data.get("allow_member_sriov"))


def _check_members(svc: ApiServices, session: Session, lb: LoadBalancer, pool: Pool, bodies: Sequence[MemberPOST],
                   listeners: list[Listener]) -> None:
    """Request-level checks of new members: reserved addresses, subnets, SR-IOV, provider IP families."""
    for body in bodies:
        rules_member.check_not_reserved(body.address, svc.conf.networking.reserved_ips)
    for subnet_id in dict.fromkeys(b.subnet_id for b in bodies if b.subnet_id):
        check_subnet(session, subnet_id, svc.network_accepts_unknown)
    if any(b.request_sriov for b in bodies) and not _sriov_allowed(session, lb):
        raise errors.BadRequest(NO_SRIOV)
    rules_member.check_ip_family(lb.provider, pool.protocol, bool(listeners), _vips(lb), [b.address for b in bodies])


def _initial_operating_status(pool: Pool) -> OperatingStatus:
    return OperatingStatus.OFFLINE if pool.health_monitor is not None else OperatingStatus.NO_MONITOR


def new_member(svc: ApiServices, ctx: RequestContext, session: Session, pool: Pool, body: MemberPOST,
               checked: bool = False) -> Member:
    """Validate and add a member row (PENDING_CREATE) to a pool whose LB is already locked. No status checks,
    quota, job or commit. `checked`: the caller already ran the request-level checks."""
    lb = pool.load_balancer
    if not checked:
        _check_members(svc, session, lb, pool, [body], affected_listeners(session, pool))
    taken = session.scalars(sa.select(Member.id).where(Member.pool_id == pool.id, Member.address == body.address,
                                                    Member.protocol_port == body.protocol_port)).first()
    if taken is not None:
        raise errors.Conflict(f"Another member on this pool is already using ip {body.address} on protocol_port "
                              f"{body.protocol_port}")
    member = Member(
        project_id=lb.project_id, pool_id=pool.id, name=body.name, admin_state_up=body.admin_state_up,
        address=body.address, protocol_port=body.protocol_port,
        weight=body.weight if body.weight is not None else DEFAULT_WEIGHT, backup=body.backup,
        subnet_id=body.subnet_id, monitor_address=body.monitor_address, monitor_port=body.monitor_port,
        request_sriov=body.request_sriov, vnic_type=VnicType.DIRECT if body.request_sriov else VnicType.NORMAL,
        provisioning_status=ProvisioningStatus.PENDING_CREATE, operating_status=_initial_operating_status(pool))
    session.add(member)
    session.flush()
    common.set_tags(session, member.id, body.tags)
    return member


def require_mutable(lb: LoadBalancer, pool: Pool) -> None:
    """Member and HM changes need the pool ACTIVE (checked first) and the LB ACTIVE (§4.1)."""
    common.require_active(pool, "Pool")
    common.require_active(lb, "Load Balancer")


def create(svc: ApiServices, ctx: RequestContext, pool_id: str, body: MemberPOST) -> dict[str, Any]:
    with svc.db.session() as session:
        pool, lb = load_for_change(session, pool_id)
        svc.policy.authorize(ctx, "member:post", lb.project_id)
        listeners = affected_listeners(session, pool)
        _check_members(svc, session, lb, pool, [body], listeners)
        common.check_quota(session, svc.conf, ctx, lb.project_id, {"member": 1})
        require_mutable(lb, pool)
        member = new_member(svc, ctx, session, pool, body, checked=True)
        job_id = common.stage_child(session, "member.create", lb, member, None, [pool, *listeners])
        wire = common.rendered(session, member, schema.to_wire)
    svc.dispatcher.dispatch(job_id)
    return wire


def member_in_pool(session: Session, pool_id: str, member_id: str) -> Member:
    """A member reached through another pool's URL does not exist there (404)."""
    member = common.get_or_404(session, Member, member_id, "Member")
    if member.pool_id != pool_id:
        raise errors.NotFound("Member", member_id)
    return member


def _locked_member(session: Session, pool_id: str, member_id: str) -> tuple[Member, Pool, LoadBalancer]:
    """The member, its pool and its row-locked LB; the member is read again under that lock."""
    member = member_in_pool(session, pool_id, member_id)
    pool, lb = load_for_change(session, pool_id)
    common.reread(session, member, "Member")
    return member, pool, lb


def update(svc: ApiServices, ctx: RequestContext, pool_id: str, member_id: str, body: MemberPUT) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, mode="json")
    with svc.db.session() as session:
        member, pool, lb = _locked_member(session, pool_id, member_id)
        svc.policy.authorize(ctx, "member:put", lb.project_id)
        require_mutable(lb, pool)
        for field in ("name", "monitor_address", "monitor_port"):
            if field in changes:
                setattr(member, field, changes[field])
        if "weight" in changes:  # null resets to the default
            member.weight = changes["weight"] if changes["weight"] is not None else DEFAULT_WEIGHT
        for field in ("admin_state_up", "backup"):
            if field in changes:
                setattr(member, field, bool(changes[field]))
        common.set_tags(session, member.id, changes.get("tags"))
        job_id = common.stage_child(session, "member.update", lb, member, ProvisioningStatus.PENDING_UPDATE,
                                    [pool, *affected_listeners(session, pool)])
        wire = common.rendered(session, member, schema.to_wire)
    svc.dispatcher.dispatch(job_id)
    return wire


def delete(svc: ApiServices, ctx: RequestContext, pool_id: str, member_id: str) -> None:
    with svc.db.session() as session:
        member, pool, lb = _locked_member(session, pool_id, member_id)
        svc.policy.authorize(ctx, "member:delete", lb.project_id)
        require_mutable(lb, pool)
        job_id = common.stage_child(session, "member.delete", lb, member, ProvisioningStatus.PENDING_DELETE,
                                    [pool, *affected_listeners(session, pool)])
    svc.dispatcher.dispatch(job_id)


# -- batch update ----------------------------------------------------------------------------------------------

def _wanted(body: MemberPOST) -> dict[str, Any]:
    """What a matched member must look like after the batch: POST defaults for omitted resettable fields."""
    wanted: dict[str, Any] = {
        "weight": body.weight if body.weight is not None else DEFAULT_WEIGHT,
        "backup": body.backup, "admin_state_up": body.admin_state_up,
        "monitor_address": body.monitor_address, "monitor_port": body.monitor_port,
    }
    for field in OPTIONAL_FIELDS:
        if field in body.model_fields_set:
            value = getattr(body, field)
            wanted[field] = list(dict.fromkeys(value or [])) if field == "tags" else value
    return wanted


def _existing(session: Session, pool_id: str, with_tags: bool) -> dict[rules_member.MemberKey, dict[str, Any]]:
    """The pool's members as plain values, keyed like batch items, in two queries at most."""
    cols = [Member.id, Member.address, Member.protocol_port, Member.provisioning_status, Member.name,
            Member.subnet_id, *(getattr(Member, f) for f in RESET_FIELDS)]
    rows = session.execute(sa.select(*cols).where(Member.pool_id == pool_id)).mappings().all()
    existing = {(r["address"], r["protocol_port"]): dict(r) for r in rows}
    if with_tags:
        tags: dict[str, list[str]] = {}
        member_ids = sa.select(Member.id).where(Member.pool_id == pool_id)
        tag_query = sa.select(Tag.resource_id, Tag.tag).where(Tag.resource_id.in_(member_ids))
        for resource_id, tag in session.execute(tag_query):
            tags.setdefault(resource_id, []).append(tag)
        for row in existing.values():
            row["tags"] = tags.get(row["id"], [])
    return existing


def _insert_members(session: Session, lb: LoadBalancer, pool: Pool, bodies: list[MemberPOST]) -> list[str]:
    """Bulk INSERT (one executemany): a 1,000-member batch must not cost 1,000 round trips."""
    if not bodies:
        return []
    now = utcnow()
    status = _initial_operating_status(pool)
    rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, str]] = []
    ids: list[str] = []
    for index, body in enumerate(bodies):
        member_id = new_id()
        ids.append(member_id)
        rows.append({
            "id": member_id, "project_id": lb.project_id, "pool_id": pool.id, "name": body.name,
            "admin_state_up": body.admin_state_up, "address": body.address, "protocol_port": body.protocol_port,
            "weight": body.weight if body.weight is not None else DEFAULT_WEIGHT, "backup": body.backup,
            "subnet_id": body.subnet_id, "monitor_address": body.monitor_address, "monitor_port": body.monitor_port,
            "request_sriov": body.request_sriov,
            "vnic_type": VnicType.DIRECT if body.request_sriov else VnicType.NORMAL,
            "provisioning_status": ProvisioningStatus.PENDING_CREATE, "operating_status": status,
            # Request order survives in list order (created_at, then id).
            "created_at": now + dt.timedelta(microseconds=index), "updated_at": None,
        })
        tag_rows.extend({"resource_id": member_id, "tag": t} for t in dict.fromkeys(body.tags))
    session.execute(sa.insert(Member), rows)
    if tag_rows:
        session.execute(sa.insert(Tag), tag_rows)
    return ids


def _update_members(session: Session, updates: list[tuple[str, dict[str, Any]]]) -> None:
    """Bulk UPDATE by primary key; rows with the same changed columns go out as one executemany."""
    if not updates:
        return
    now = utcnow()
    rows = [{"id": member_id, **{k: v for k, v in changes.items() if k != "tags"},
             "provisioning_status": ProvisioningStatus.PENDING_UPDATE, "updated_at": now}
            for member_id, changes in updates]
    session.execute(sa.update(Member), rows)
    retagged = [(member_id, changes["tags"]) for member_id, changes in updates if "tags" in changes]
    if retagged:
        session.execute(sa.delete(Tag).where(Tag.resource_id.in_([m for m, _ in retagged])))
        tag_rows = [{"resource_id": m, "tag": t} for m, tags in retagged for t in tags]
        if tag_rows:
            session.execute(sa.insert(Tag), tag_rows)


def batch_update(svc: ApiServices, ctx: RequestContext, pool_id: str, bodies: list[MemberPOST],
                 additive_only: bool) -> None:
    """Make the pool's members what the request lists (§2.4); with `additive_only`, unlisted ones stay.

    Matched on (address, protocol_port). Writes nothing (no job, LB stays ACTIVE) when nothing changes.
    """
    with svc.db.session() as session:
        pool, lb = load_for_change(session, pool_id)
        # The batch creates, updates and (unless additive) deletes: it needs all those permissions.
        for action in ("post", "put", *(() if additive_only else ("delete",))):
            svc.policy.authorize(ctx, f"member:{action}", lb.project_id)
        for subnet_id in dict.fromkeys(b.subnet_id for b in bodies if b.subnet_id):
            check_subnet(session, subnet_id, svc.network_accepts_unknown)
        listeners = affected_listeners(session, pool)
        require_mutable(lb, pool)
        existing = _existing(session, pool.id, with_tags=any("tags" in b.model_fields_set for b in bodies))
        plan = rules_member.plan_batch(existing, [((b.address, b.protocol_port), _wanted(b)) for b in bodies],
                                       additive_only)
        if not plan:
            return
        created = [bodies[i] for i in plan.create]
        _check_members(svc, session, lb, pool, created, listeners)
        net = len(created) - len(plan.delete)
        common.check_quota(session, svc.conf, ctx, lb.project_id, {"member": net})
        created_ids = _insert_members(session, lb, pool, created)
        _update_members(session, plan.update)
        if plan.delete:
            session.execute(sa.update(Member).where(Member.id.in_(plan.delete))
                            .values(provisioning_status=ProvisioningStatus.PENDING_DELETE, updated_at=utcnow())
                            .execution_options(synchronize_session=False))
        common.mark([pool, lb, *listeners], ProvisioningStatus.PENDING_UPDATE)
        job_id = common.create_job(session, "member.batch", lb.id, ids=created_ids + [m for m, _ in plan.update],
                                   delete_ids=plan.delete)
    svc.dispatcher.dispatch(job_id)
