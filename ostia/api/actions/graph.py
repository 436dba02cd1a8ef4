"""Single-call ("fully populated") load balancer create (§2.12).

Nested objects carry no parent ids; pools are defined once (top level, a listener's `default_pool` or a
policy's `redirect_pool`) and referenced elsewhere by `{"name": ...}`. Each nested object is validated by
its own resource's schema and rules (the same `new_*` functions the standalone POSTs use).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from ostia.api.actions import common, health_monitor, l7policy, l7rule, listener, member, pool
from ostia.api.context import RequestContext
from ostia.api.faults import unknown_attributes, validation_message
from ostia.api.schemas import health_monitor as hm_schema
from ostia.api.schemas import l7policy as l7policy_schema
from ostia.api.schemas import l7rule as l7rule_schema
from ostia.api.schemas import listener as listener_schema
from ostia.api.schemas import load_balancer as lb_schema
from ostia.api.schemas import member as member_schema
from ostia.api.schemas import pool as pool_schema
from ostia.api.services import ApiServices
from ostia.db.models import Listener, LoadBalancer, Pool
from ostia.domain import errors

PARENT_IDS = ("loadbalancer_id", "listener_id", "pool_id", "l7policy_id", "default_pool_id", "redirect_pool_id")


def _parse(model: type[BaseModel], raw: Any, root: str, **parent: str) -> Any:
    """Validate a nested object with its resource's POST schema; parent ids come from the graph."""
    if not isinstance(raw, dict):
        raise errors.BadRequest(f"Invalid input for field/attribute {root}. Value: '{raw}'. Value should be an object")
    extra = sorted(k for k in raw if k in PARENT_IDS)
    if extra:
        raise errors.BadRequest(unknown_attributes(root, extra))
    try:
        return model.model_validate({**raw, **parent})
    except ValidationError as exc:
        raise errors.BadRequest(validation_message([dict(e) for e in exc.errors()], root)) from None


def _list(raw: Any, field: str) -> list[Any]:
    """A nested collection (members, l7policies, rules): null is empty, anything but a list is refused."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise errors.InvalidInput(field, raw, "Value should be a list")
    return raw


class _Pools:
    """Collects pool definitions and references from the whole graph, then checks §2.12's naming rules."""

    def __init__(self) -> None:
        self.definitions: dict[str, dict[str, Any]] = {}
        self.references: set[str] = set()
        self.created: dict[str, Pool] = {}

    def see(self, raw: Any) -> str:
        if not isinstance(raw, dict):
            raise errors.BadRequest(
                f"Invalid input for field/attribute pool. Value: '{raw}'. Value should be an object")
        name = raw.get("name")
        if name is not None and not isinstance(name, str):  # a list or object would not even be hashable
            raise errors.InvalidInput("name", name, "Value should be string")
        if not name:
            raise errors.ValidationFailure("Pools must be named when creating a fully populated loadbalancer.")
        if set(raw) == {"name"}:
            self.references.add(name)
            return str(name)
        if name in self.definitions:
            raise errors.ValidationFailure("Pool names must be unique when creating a fully populated loadbalancer.")
        for required in ("protocol", "lb_algorithm"):
            if required not in raw:
                raise errors.ValidationFailure(f"Pool definition for '{name}' missing required attribute: {required}")
        _list(raw.get("members"), "members")
        self.definitions[name] = raw
        return str(name)

    def check(self) -> None:
        for name in sorted(self.references - set(self.definitions)):
            raise errors.ValidationFailure(f"Pool '{name}' was referenced but no full definition was found.")


def add_children(svc: ApiServices, ctx: RequestContext, session: Session, lb: LoadBalancer,
                 listeners: list[dict[str, Any]], pools: list[dict[str, Any]]) -> None:
    catalog = _Pools()
    for raw in pools:
        catalog.see(raw)
    plan = []
    for raw in listeners:
        if not isinstance(raw, dict):
            raise errors.BadRequest(
                f"Invalid input for field/attribute listeners. Value: '{raw}'. Value should be an object")
        raw = dict(raw)
        default = catalog.see(raw.pop("default_pool")) if raw.get("default_pool") is not None else None
        raw.pop("default_pool", None)
        policies = []
        for praw in _list(raw.pop("l7policies", None), "l7policies"):
            if not isinstance(praw, dict):
                raise errors.BadRequest(
                    f"Invalid input for field/attribute l7policies. Value: '{praw}'. Value should be an object")
            praw = dict(praw)
            redirect = catalog.see(praw.pop("redirect_pool")) if praw.get("redirect_pool") is not None else None
            praw.pop("redirect_pool", None)
            policies.append((praw, redirect, _list(praw.pop("rules", None), "rules")))
        plan.append((raw, default, policies))
    catalog.check()

    counts = {"listener": len(plan), "pool": len(catalog.definitions),
              "health_monitor": sum(1 for p in catalog.definitions.values() if p.get("healthmonitor")),
              "member": sum(len(p.get("members") or []) for p in catalog.definitions.values())}
    common.check_quota(session, svc.conf, ctx, lb.project_id, counts)

    for name, raw in catalog.definitions.items():
        raw = dict(raw)
        hm_raw = raw.pop("healthmonitor", None)
        members_raw = _list(raw.pop("members", None), "members")
        row = pool.new_pool(svc, ctx, session, lb, _parse(pool_schema.PoolPOST, raw, "pool", loadbalancer_id=lb.id))
        session.flush()
        if hm_raw is not None:
            health_monitor.new_health_monitor(
                svc, ctx, session, row, _parse(hm_schema.HealthMonitorPOST, hm_raw, "healthmonitor", pool_id=row.id))
            session.flush()
        for mraw in members_raw:
            member.new_member(svc, ctx, session, row, _parse(member_schema.MemberPOST, mraw, "member"))
        catalog.created[name] = row
    session.flush()

    for raw, default, policies in plan:
        body = _parse(listener_schema.ListenerPOST, raw, "listener", loadbalancer_id=lb.id)
        if default is not None:
            body.default_pool_id = catalog.created[default].id
        lrow: Listener = listener.new_listener(svc, ctx, session, lb, body)
        session.flush()
        for praw, redirect, rules in policies:
            pbody = _parse(l7policy_schema.L7PolicyPOST, praw, "l7policy", listener_id=lrow.id)
            if redirect is not None:
                pbody.redirect_pool_id = catalog.created[redirect].id
            prow = l7policy.new_l7policy(svc, ctx, session, lrow, pbody)
            session.flush()
            for rraw in rules:
                l7rule.new_l7rule(svc, ctx, session, prow, _parse(l7rule_schema.L7RulePOST, rraw, "rule"))
        session.flush()
    session.expire(lb)


def full_wire(lb: LoadBalancer) -> dict[str, Any]:
    """The graph-create response: listeners and pools as full objects (§2.12)."""
    return {**lb_schema.to_wire(lb),
            "listeners": [listener_schema.to_wire_full(x) for x in lb.listeners],
            "pools": [pool_schema.to_wire_full(p) for p in lb.pools]}
