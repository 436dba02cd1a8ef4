"""Health monitor writes (§2.5, §3.2, §4): one monitor per pool, type rules, null handling on PUT."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ostia.api.actions import common
from ostia.api.actions.member import require_mutable
from ostia.api.actions.pool import affected_listeners, load_for_change
from ostia.api.context import RequestContext
from ostia.api.schemas import health_monitor as schema
from ostia.api.schemas.health_monitor import HealthMonitorPOST, HealthMonitorPUT
from ostia.api.services import ApiServices
from ostia.db.models import HealthMonitor, LoadBalancer, Pool
from ostia.domain import errors
from ostia.domain import rules_health_monitor as rules
from ostia.domain.enums import OperatingStatus, ProvisioningStatus


def _check_for_pool(svc: ApiServices, pool: Pool, body: HealthMonitorPOST) -> None:
    api = svc.conf.api_settings
    rules.check_type_allowed(body.type, api.allow_ping_health_monitors)
    rules.check_type_for_pool(body.type, pool.protocol, body.delay, api.udp_connect_min_interval_health_monitor)


def new_health_monitor(svc: ApiServices, ctx: RequestContext, session: Session, pool: Pool,
                       body: HealthMonitorPOST) -> HealthMonitor:
    """Validate and add the pool's health monitor (PENDING_CREATE) under an already locked LB. No status
    checks, quota, job or commit: the caller (standalone POST or graph) does those."""
    _check_for_pool(svc, pool, body)
    if pool.health_monitor is not None:
        raise errors.Conflict("This pool already has a health monitor")
    given = body.model_dump(include={"http_method", "url_path", "expected_codes"}, exclude_unset=True)
    rules.check_http_fields(body.type, given)
    rules.check_domain_name(body.domain_name, body.http_version)
    http = body.type in rules.HTTP_TYPES
    hm = HealthMonitor(
        project_id=pool.project_id, pool_id=pool.id, name=body.name, type=body.type, delay=body.delay,
        timeout=body.timeout, max_retries=body.max_retries,
        max_retries_down=body.max_retries_down if body.max_retries_down is not None else rules.DEFAULT_MAX_RETRIES_DOWN,
        http_method=(body.http_method or rules.DEFAULT_HTTP_METHOD) if http else None,
        url_path=(body.url_path or rules.DEFAULT_URL_PATH) if http else None,
        expected_codes=(body.expected_codes or rules.DEFAULT_EXPECTED_CODES) if http else None,
        http_version=body.http_version, domain_name=body.domain_name, admin_state_up=body.admin_state_up,
        provisioning_status=ProvisioningStatus.PENDING_CREATE, operating_status=OperatingStatus.OFFLINE)
    pool.health_monitor = hm  # keeps the pool's view current for members added in the same transaction
    session.add(hm)
    session.flush()
    common.set_tags(session, hm.id, body.tags)
    return hm


def create(svc: ApiServices, ctx: RequestContext, body: HealthMonitorPOST) -> dict[str, Any]:
    # A disabled type is refused before anything is looked up.
    rules.check_type_allowed(body.type, svc.conf.api_settings.allow_ping_health_monitors)
    with svc.db.session() as session:
        pool, lb = load_for_change(session, body.pool_id)
        svc.policy.authorize(ctx, "healthmonitor:post", lb.project_id)
        _check_for_pool(svc, pool, body)
        common.check_quota(session, svc.conf, ctx, lb.project_id, {"health_monitor": 1})
        require_mutable(lb, pool)
        hm = new_health_monitor(svc, ctx, session, pool, body)
        job_id = common.stage_child(session, "health_monitor.create", lb, hm, None,
                                    [pool, *affected_listeners(session, pool)])
        wire = common.rendered(session, hm, schema.to_wire)
    svc.dispatcher.dispatch(job_id)
    return wire


def _check_update(svc: ApiServices, hm: HealthMonitor, pool: Pool, changes: dict[str, Any]) -> None:
    rules.check_http_fields(hm.type, {k: v for k, v in changes.items() if k in rules.HTTP_FIELDS}, on_update=True)
    rules.check_required_on_update(changes)
    if pool.protocol in rules.LVS_PROTOCOLS:
        rules.check_udp_connect_delay(hm.type, changes.get("delay"),
                                      svc.conf.api_settings.udp_connect_min_interval_health_monitor)
    rules.check_domain_name(changes.get("domain_name", hm.domain_name), changes.get("http_version", hm.http_version))


def _apply(hm: HealthMonitor, changes: dict[str, Any]) -> None:
    defaults: dict[str, Any] = {"max_retries_down": rules.DEFAULT_MAX_RETRIES_DOWN, **rules.HTTP_DEFAULTS}
    for field in ("name", "delay", "timeout", "max_retries", "max_retries_down", "http_method", "url_path",
                  "expected_codes", "http_version", "domain_name"):
        if field in changes:
            value = changes[field]
            setattr(hm, field, value if value is not None else defaults.get(field))
    if "admin_state_up" in changes:
        hm.admin_state_up = bool(changes["admin_state_up"])


def _locked_monitor(session: Session, hm_id: str) -> tuple[HealthMonitor, Pool, LoadBalancer]:
    """The monitor, its pool and its row-locked LB; the monitor is read again under that lock."""
    hm = common.get_or_404(session, HealthMonitor, hm_id, "Health Monitor")
    pool, lb = load_for_change(session, hm.pool_id)
    session.refresh(hm)
    return hm, pool, lb


def update(svc: ApiServices, ctx: RequestContext, hm_id: str, body: HealthMonitorPUT) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, mode="json")
    with svc.db.session() as session:
        hm, pool, lb = _locked_monitor(session, hm_id)
        svc.policy.authorize(ctx, "healthmonitor:put", lb.project_id)
        _check_update(svc, hm, pool, changes)
        require_mutable(lb, pool)
        _apply(hm, changes)
        common.set_tags(session, hm.id, changes.get("tags"))
        job_id = common.stage_child(session, "health_monitor.update", lb, hm, ProvisioningStatus.PENDING_UPDATE,
                                    [pool, *affected_listeners(session, pool)])
        wire = common.rendered(session, hm, schema.to_wire)
    svc.dispatcher.dispatch(job_id)
    return wire


def delete(svc: ApiServices, ctx: RequestContext, hm_id: str) -> None:
    with svc.db.session() as session:
        hm, pool, lb = _locked_monitor(session, hm_id)
        svc.policy.authorize(ctx, "healthmonitor:delete", lb.project_id)
        require_mutable(lb, pool)
        job_id = common.stage_child(session, "health_monitor.delete", lb, hm, ProvisioningStatus.PENDING_DELETE,
                                    [pool, *affected_listeners(session, pool)])
    svc.dispatcher.dispatch(job_id)
