"""Load balancer writes (§2.1, §4): rules, quota and one transaction of rows plus a job."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostia.api.actions import common
from ostia.api.actions.network import VipRequest, check_additional_vips, resolve_vip
from ostia.api.context import RequestContext
from ostia.api.schemas.load_balancer import LoadBalancerPOST, LoadBalancerPUT
from ostia.api.schemas.load_balancer import to_wire as lb_to_wire
from ostia.api.services import ApiServices
from ostia.db.models import (
    AdditionalVip,
    AvailabilityZone,
    Flavor,
    FlavorProfile,
    Listener,
    ListenerStatistics,
    LoadBalancer,
)
from ostia.db.repositories.networks import reserve_vips
from ostia.domain import errors, providers
from ostia.domain.enums import OperatingStatus, ProvisioningStatus, Topology
from ostia.domain.failover import rolling_order
from ostia.domain.listeners import ALLOWED_CIDRS_WITH_VIP_SGS

LOG = logging.getLogger("ostia.api")
VIP_SG_SRIOV = "VIP Security Groups are not supported with SR-IOV (vnic_type direct) VIPs."
MISSING_PROJECT = ("Missing project ID in request where one is required. An administrator should check the "
                   "keystone settings in the Octavia configuration.")
PROJECT_ID_MAX = 36  # width of every project_id column


def _provider(svc: ApiServices, requested: str | None, flavor_provider: str | None) -> str:
    provider = requested or flavor_provider or svc.conf.api_settings.default_provider_driver
    if provider not in svc.conf.api_settings.enabled_provider_drivers:
        raise errors.BadRequest(f"Provider '{provider}' is not enabled.")
    if flavor_provider and providers.canonical(flavor_provider) != providers.canonical(provider):
        raise errors.ValidationFailure(f"Flavor is not compatible with provider '{provider}'.")
    return provider


def _flavor(session: Session, flavor_id: str | None) -> tuple[Flavor | None, dict[str, Any]]:
    if not flavor_id:
        return None, {}
    flavor = session.get(Flavor, flavor_id)
    if flavor is None:
        raise errors.ValidationFailure("Invalid flavor_id.")
    if not flavor.enabled:
        raise errors.BadRequest(f"The selected flavor is not allowed in this deployment: {flavor_id}")
    profile = session.get(FlavorProfile, flavor.flavor_profile_id)
    data = json.loads(profile.flavor_data) if profile else {}
    return flavor, data if isinstance(data, dict) else {}


def _availability_zone(session: Session, name: str | None) -> None:
    if not name:
        return
    az = session.get(AvailabilityZone, name)
    if az is None:
        raise errors.ValidationFailure("Invalid availability zone name specified.")
    if not az.enabled:
        raise errors.BadRequest(f"The selected availability_zone is not allowed in this deployment: {name}")


def _check_vip_address_free(session: Session, vip: VipRequest) -> None:
    if not vip.address:
        return
    stmt = select(LoadBalancer.id).where(
        LoadBalancer.vip_address == vip.address,
        LoadBalancer.provisioning_status != ProvisioningStatus.DELETED)
    if vip.subnet_id:
        stmt = stmt.where(LoadBalancer.vip_subnet_id == vip.subnet_id)
    elif vip.network_id:
        stmt = stmt.where(LoadBalancer.vip_network_id == vip.network_id)
    if session.scalars(stmt).first():
        raise errors.Conflict(f"The VIP IP address is already in use: {vip.address}")


def new_load_balancer(svc: ApiServices, ctx: RequestContext, session: Session, body: LoadBalancerPOST,
                      ) -> LoadBalancer:
    """Validate and add the LB row (PENDING_CREATE); the caller adds children, the job and commits."""
    project_id = body.project_id or body.tenant_id or ctx.project_id
    if not project_id and svc.conf.api_settings.auth_strategy == "noauth":
        project_id = svc.conf.api_settings.noauth_default_project or None
    if not project_id:
        raise errors.ValidationFailure(MISSING_PROJECT)
    if len(project_id) > PROJECT_ID_MAX:  # a noauth X-Project-Id header is unchecked; the column is 36 wide
        raise errors.InvalidInput("project_id", project_id,
                                  f"Value should have a maximum character requirement of {PROJECT_ID_MAX}")
    svc.policy.authorize(ctx, "loadbalancer:post", project_id)
    if body.vip_sg_ids is not None:
        svc.policy.authorize(ctx, "loadbalancer:post:vip_sg_ids", project_id)
    flavor, flavor_data = _flavor(session, body.flavor_id)
    if body.vip_sg_ids and flavor_data.get("sriov_vip"):
        raise errors.ValidationFailure(VIP_SG_SRIOV)
    flavor_provider = None
    if flavor is not None:
        profile = session.get(FlavorProfile, flavor.flavor_profile_id)
        flavor_provider = profile.provider_name if profile else None
    provider = _provider(svc, body.provider, flavor_provider)
    _availability_zone(session, body.availability_zone)
    vip = resolve_vip(session, VipRequest(body.vip_port_id, body.vip_subnet_id, body.vip_network_id,
                                          body.vip_address), svc.network_accepts_unknown)
    seen: set[str] = set()
    for extra in body.additional_vips:
        if extra.subnet_id in seen or extra.subnet_id == vip.subnet_id:
            raise errors.ValidationFailure("Duplicate VIP subnet(s) specified. Only one IP can be bound per "
                                           "subnet.")
        seen.add(extra.subnet_id)
    check_additional_vips(session, vip, [(v.subnet_id, v.ip_address) for v in body.additional_vips],
                          svc.network_accepts_unknown)
    common.check_quota(session, svc.conf, ctx, project_id, {"load_balancer": 1})
    _check_vip_address_free(session, vip)
    topology = flavor_data.get("loadbalancer_topology") or svc.conf.controller_worker.loadbalancer_topology
    if topology == Topology.ACTIVE_STANDBY and not svc.active_standby:
        raise errors.ValidationFailure("ACTIVE_STANDBY needs VRRP between real interfaces, which the loopback "
                                       "network driver does not have; use network_driver netns or SINGLE.")
    lb = LoadBalancer(
        project_id=project_id, name=body.name, description=body.description,
        admin_state_up=body.admin_state_up, provisioning_status=ProvisioningStatus.PENDING_CREATE,
        operating_status=OperatingStatus.OFFLINE, vip_address=vip.address, vip_port_id=vip.port_id,
        vip_subnet_id=vip.subnet_id, vip_network_id=vip.network_id, vip_qos_policy_id=body.vip_qos_policy_id,
        vip_sg_ids=list(body.vip_sg_ids or []), vip_vnic_type="direct" if flavor_data.get("sriov_vip") else "normal",
        # "" names no zone (like null): stored as NULL, as the foreign key to availability_zone needs
        provider=provider, flavor_id=body.flavor_id, availability_zone=body.availability_zone or None,
        topology=topology)
    lb.additional_vips = [AdditionalVip(subnet_id=v.subnet_id, ip_address=v.ip_address)
                          for v in body.additional_vips]
    session.add(lb)
    session.flush()
    common.set_tags(session, lb.id, body.tags)
    return lb


def create(svc: ApiServices, ctx: RequestContext, body: LoadBalancerPOST) -> dict[str, Any]:
    """Returns the wire body as committed (PENDING_CREATE), before the worker can move it on."""
    from ostia.api.actions import graph  # single-call create: children validated with their own rules

    with svc.db.session() as session:
        lb = new_load_balancer(svc, ctx, session, body)
        if body.listeners or body.pools:
            graph.add_children(svc, ctx, session, lb, body.listeners, body.pools)
            wire = graph.full_wire(lb)
        else:
            wire = lb_to_wire(lb)
        job_id = common.create_job(session, "load_balancer.create", lb.id, id=lb.id)
        request = (lb.id, lb.vip_subnet_id, lb.vip_network_id, lb.vip_port_id, lb.vip_address)
        extras = [(v.subnet_id, v.ip_address) for v in lb.additional_vips]
    _allocate_vip(svc, request, extras, wire)
    svc.dispatcher.dispatch(job_id)
    return wire


def _allocate_vip(svc: ApiServices, request: tuple[str, str | None, str | None, str | None, str | None],
                  extras: list[tuple[str, str | None]], wire: dict[str, Any]) -> None:
    """Reserve the VIP and the additional VIPs before the job runs (after the rows committed: the allocator
    writes in its own transaction), so the answer shows their addresses as Octavia's does. If it cannot, the
    create flow's AllocateVip tries again and reports the failure as ERROR."""
    if svc.vip_allocator is None:
        return
    try:
        vip, added = reserve_vips(svc.db, svc.vip_allocator, request[0], request[1:], extras)
    except Exception:
        LOG.warning("lb=%s VIPs not reserved at create; the worker will retry", request[0], exc_info=True)
        return
    wire.update({"vip_address": vip.address, "vip_port_id": vip.port_id, "vip_subnet_id": vip.subnet_id,
                 "vip_network_id": vip.network_id})
    if added:
        wire["additional_vips"] = [{"subnet_id": v.subnet_id, "ip_address": v.address, "port_id": v.port_id}
                                   for v in added]


def update(svc: ApiServices, ctx: RequestContext, lb_id: str, body: LoadBalancerPUT) -> str:
    changes = body.model_dump(exclude_unset=True)
    with svc.db.session() as session:
        lb = common.get_or_404(session, LoadBalancer, lb_id, "Load Balancer", lock=True)
        svc.policy.authorize(ctx, "loadbalancer:put", lb.project_id)
        if "vip_sg_ids" in changes:
            svc.policy.authorize(ctx, "loadbalancer:put:vip_sg_ids", lb.project_id)
        if lb.provisioning_status != ProvisioningStatus.ACTIVE:
            raise errors.InvalidState(lb.provisioning_status, lb.id)
        for field in ("name", "description", "vip_qos_policy_id"):
            if field in changes:
                setattr(lb, field, changes[field])
        if "admin_state_up" in changes:
            lb.admin_state_up = bool(changes["admin_state_up"])
        if changes.get("vip_sg_ids"):
            # Custom VIP security groups replace the rules Ostia derives from allowed_cidrs (§3.9)
            if lb.vip_vnic_type == "direct":
                raise errors.ValidationFailure(VIP_SG_SRIOV)
            if any(listener.allowed_cidrs for listener in lb.listeners):
                raise errors.ValidationFailure(ALLOWED_CIDRS_WITH_VIP_SGS)
        if "vip_sg_ids" in changes:
            lb.vip_sg_ids = list(changes["vip_sg_ids"] or [])
        common.set_tags(session, lb.id, changes.get("tags"))
        common.mark([lb], ProvisioningStatus.PENDING_UPDATE)
        job_id = common.create_job(session, "load_balancer.update", lb.id, id=lb.id)
    svc.dispatcher.dispatch(job_id)
    return lb_id


def delete(svc: ApiServices, ctx: RequestContext, lb_id: str, cascade: bool) -> None:
    with svc.db.session() as session:
        lb = common.get_or_404(session, LoadBalancer, lb_id, "Load Balancer", lock=True)
        svc.policy.authorize(ctx, "loadbalancer:delete", lb.project_id)
        if lb.provisioning_status not in (ProvisioningStatus.ACTIVE, ProvisioningStatus.ERROR):
            raise errors.InvalidState(lb.provisioning_status, lb.id)
        if not cascade and (lb.listeners or lb.pools):
            raise errors.ValidationFailure(f"Cannot delete Load Balancer {lb.id} - it has children")
        common.mark([lb], ProvisioningStatus.PENDING_DELETE)
        if cascade:
            for listener in lb.listeners:
                common.mark([listener, *listener.l7policies], ProvisioningStatus.PENDING_DELETE)
            for pool in lb.pools:
                common.mark([pool, *pool.members], ProvisioningStatus.PENDING_DELETE)
                if pool.health_monitor is not None:
                    common.mark([pool.health_monitor], ProvisioningStatus.PENDING_DELETE)
        job_id = common.create_job(session, "load_balancer.delete", lb.id, id=lb.id, cascade=cascade)
    svc.dispatcher.dispatch(job_id)


def failover(svc: ApiServices, ctx: RequestContext, lb_id: str) -> None:
    with svc.db.session() as session:
        lb = common.get_or_404(session, LoadBalancer, lb_id, "Load Balancer", lock=True)
        svc.policy.authorize(ctx, "loadbalancer:put_failover", lb.project_id)
        if lb.provisioning_status not in (ProvisioningStatus.ACTIVE, ProvisioningStatus.ERROR):
            raise errors.InvalidState(lb.provisioning_status, lb.id)
        common.mark([lb], ProvisioningStatus.PENDING_UPDATE)
        order = rolling_order(lb.topology, [(a.id, a.role, a.status) for a in lb.amphorae])
        job_id = common.create_job(session, "load_balancer.failover", lb.id, id=lb.id, amphora_ids=order)
    svc.dispatcher.dispatch(job_id)


STAT_FIELDS = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")


def stats_for_listeners(session: Session, listener_ids: list[str]) -> dict[str, int]:
    if not listener_ids:
        return dict.fromkeys(STAT_FIELDS, 0)
    cols = [func.coalesce(func.sum(getattr(ListenerStatistics, f)), 0) for f in STAT_FIELDS]
    row = session.execute(select(*cols).where(ListenerStatistics.listener_id.in_(listener_ids))).one()
    return {f: int(v) for f, v in zip(STAT_FIELDS, row, strict=True)}


def stats(session: Session, lb: LoadBalancer) -> dict[str, int]:
    ids = list(session.scalars(select(Listener.id).where(Listener.load_balancer_id == lb.id)))
    return stats_for_listeners(session, ids)


def status_tree(lb: LoadBalancer) -> dict[str, Any]:
    def st(row: Any) -> dict[str, Any]:
        return {"id": row.id, "name": row.name or "", "operating_status": row.operating_status,
                "provisioning_status": row.provisioning_status}

    def pool_tree(pool: Any) -> dict[str, Any]:
        hm = pool.health_monitor
        return {**st(pool),
                "health_monitor": ({**st(hm), "type": hm.type} if hm is not None else None),
                "members": [{**st(m), "address": m.address, "protocol_port": m.protocol_port}
                            for m in pool.members]}

    listeners = []
    for listener in lb.listeners:
        pools: dict[str, Any] = {}
        if listener.default_pool is not None:
            pools[listener.default_pool.id] = listener.default_pool
        for policy in listener.l7policies:
            if policy.redirect_pool is not None:
                pools[policy.redirect_pool.id] = policy.redirect_pool
        listeners.append({**st(listener), "pools": [pool_tree(p) for p in pools.values()]})
    return {"statuses": {"loadbalancer": {**st(lb), "listeners": listeners}}}

