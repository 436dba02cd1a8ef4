"""Flavors, availability zones and their provider profiles (§2.11): admin writes with Octavia's locks.

A profile's provider_name / metadata cannot change while a flavor (AZ) uses it, a profile in use cannot be
deleted, and a flavor (AZ) cannot be deleted while a load balancer that is not DELETED refers to it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ostia.api.actions import provider
from ostia.api.actions.common import get_or_404
from ostia.api.context import RequestContext
from ostia.api.schemas import catalog as schema
from ostia.api.services import ApiServices
from ostia.db.models import (
    AvailabilityZone,
    AvailabilityZoneProfile,
    Flavor,
    FlavorProfile,
    LoadBalancer,
)
from ostia.domain import errors
from ostia.domain.enums import ProvisioningStatus


@dataclasses.dataclass(frozen=True)
class ProfileKind:
    model: Any
    data_field: str  # flavor_data / availability_zone_data
    label: str  # in "<label> <id> not found."
    in_use_label: str  # in "<label> <id> is in use and cannot be modified." (Octavia's own spelling)
    policy: str
    metadata_kind: str  # provider.validate_metadata kind
    user_column: Any  # the column of flavors / AZs that points at a profile


FLAVOR_PROFILE = ProfileKind(FlavorProfile, "flavor_data", "Flavor Profile", "Flavor profile", "flavor-profile",
                             "flavor", Flavor.flavor_profile_id)
AZ_PROFILE = ProfileKind(AvailabilityZoneProfile, "availability_zone_data", "Availability Zone Profile",
                         "Availability Zone Profile", "availability-zone-profile", "availability_zone",
                         AvailabilityZone.availability_zone_profile_id)


def _flush_unique(session: Session, message: str) -> None:
    """Flush; a unique-key race lost to another request is the same 409 as the pre-check's."""
    try:
        session.flush()
    except IntegrityError:
        raise errors.Conflict(message) from None


def _count(session: Session, column: Any, value: str, live_lbs_only: bool = False) -> int:
    stmt = select(func.count()).where(column == value)
    if live_lbs_only:
        stmt = stmt.where(LoadBalancer.provisioning_status != ProvisioningStatus.DELETED)
    return int(session.scalar(stmt) or 0)


def _reject_nulls(body: BaseModel, fields: tuple[str, ...]) -> None:
    """An explicit null on a required attribute (Octavia: "None is not a valid option for <f>")."""
    for field in fields:
        if field in body.model_fields_set and getattr(body, field) is None:
            raise errors.InvalidOption(None, field)


# -- profiles ---------------------------------------------------------------------------------------


def create_profile(svc: ApiServices, ctx: RequestContext, kind: ProfileKind, body: Any) -> str:
    svc.policy.authorize(ctx, f"{kind.policy}:post", ctx.project_id)
    raw = getattr(body, kind.data_field)
    data = provider.parse_metadata(raw, kind.data_field)
    provider.validate_metadata(svc.conf, body.provider_name, data, kind.metadata_kind)
    with svc.db.session() as session:
        row = kind.model(name=body.name, provider_name=body.provider_name, **{kind.data_field: raw})
        session.add(row)
        session.flush()
        return str(row.id)


def update_profile(svc: ApiServices, ctx: RequestContext, kind: ProfileKind, ident: str, body: Any) -> None:
    svc.policy.authorize(ctx, f"{kind.policy}:put", ctx.project_id)
    _reject_nulls(body, ("name", "provider_name", kind.data_field))
    sent = body.model_fields_set
    with svc.db.session() as session:
        row = get_or_404(session, kind.model, ident, kind.label, lock=True)
        if {"provider_name", kind.data_field} & sent:
            if _count(session, kind.user_column, row.id):
                raise errors.InUse(kind.in_use_label, row.id)
            provider_name = body.provider_name if "provider_name" in sent else row.provider_name
            raw = getattr(body, kind.data_field) if kind.data_field in sent else getattr(row, kind.data_field)
            data = provider.parse_metadata(raw, kind.data_field)
            provider.validate_metadata(svc.conf, provider_name, data, kind.metadata_kind)
        for field in ("name", "provider_name", kind.data_field):
            if field in sent:
                setattr(row, field, getattr(body, field))


def delete_profile(svc: ApiServices, ctx: RequestContext, kind: ProfileKind, ident: str) -> None:
    svc.policy.authorize(ctx, f"{kind.policy}:delete", ctx.project_id)
    with svc.db.session() as session:
        row = get_or_404(session, kind.model, ident, kind.label, lock=True)
        if _count(session, kind.user_column, row.id):
            raise errors.InUse(kind.in_use_label, row.id)
        session.delete(row)


# -- flavors ----------------------------------------------------------------------------------------


def _flavor_name_taken(session: Session, name: str, other_than: str | None = None) -> None:
    stmt = select(Flavor.id).where(Flavor.name == name)
    if other_than:
        stmt = stmt.where(Flavor.id != other_than)
    if session.scalars(stmt).first():
        raise errors.Conflict(f"A flavor of {name} already exists.")


def create_flavor(svc: ApiServices, ctx: RequestContext, body: schema.FlavorPOST) -> str:
    svc.policy.authorize(ctx, "flavor:post", ctx.project_id)
    with svc.db.session() as session:
        if session.get(FlavorProfile, body.flavor_profile_id) is None:
            raise errors.ValidationFailure("Invalid flavor_profile_id.")
        _flavor_name_taken(session, body.name)
        row = Flavor(name=body.name, description=body.description, enabled=body.enabled,
                     flavor_profile_id=body.flavor_profile_id)
        session.add(row)
        _flush_unique(session, f"A flavor of {body.name} already exists.")
        return row.id


def update_flavor(svc: ApiServices, ctx: RequestContext, ident: str, body: schema.FlavorPUT) -> None:
    svc.policy.authorize(ctx, "flavor:put", ctx.project_id)
    _reject_nulls(body, ("name",))
    sent = body.model_fields_set
    with svc.db.session() as session:
        row = get_or_404(session, Flavor, ident, "Flavor", lock=True)
        if "name" in sent and body.name is not None:
            _flavor_name_taken(session, body.name, other_than=row.id)
            row.name = body.name
        if "description" in sent:
            row.description = body.description
        if "enabled" in sent:
            row.enabled = bool(body.enabled)
        _flush_unique(session, f"A flavor of {body.name} already exists.")


def delete_flavor(svc: ApiServices, ctx: RequestContext, ident: str) -> None:
    svc.policy.authorize(ctx, "flavor:delete", ctx.project_id)
    with svc.db.session() as session:
        row = get_or_404(session, Flavor, ident, "Flavor", lock=True)
        if _count(session, LoadBalancer.flavor_id, row.id, live_lbs_only=True):
            raise errors.InUse("Flavor", row.id)
        # Deleted load balancers keep no claim on the flavor (Octavia rewrites theirs too).
        session.execute(update(LoadBalancer).where(LoadBalancer.flavor_id == row.id).values(flavor_id=None)
                        .execution_options(synchronize_session=False))
        session.delete(row)


# -- availability zones -----------------------------------------------------------------------------


def get_availability_zone(session: Session, name: str, lock: bool = False) -> AvailabilityZone:
    stmt = select(AvailabilityZone).where(AvailabilityZone.name == name)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise errors.NotFound("Availability Zone", name)
    return row


def create_availability_zone(svc: ApiServices, ctx: RequestContext, body: schema.AvailabilityZonePOST) -> str:
    svc.policy.authorize(ctx, "availability-zone:post", ctx.project_id)
    taken = f"A availability zone of {body.name} already exists."
    with svc.db.session() as session:
        if session.get(AvailabilityZoneProfile, body.availability_zone_profile_id) is None:
            raise errors.ValidationFailure("Invalid availability_zone_profile_id.")
        if session.scalars(select(AvailabilityZone.name).where(AvailabilityZone.name == body.name)).first():
            raise errors.Conflict(taken)
        row = AvailabilityZone(name=body.name, description=body.description, enabled=body.enabled,
                               availability_zone_profile_id=body.availability_zone_profile_id)
        session.add(row)
        _flush_unique(session, taken)
        return row.name


def update_availability_zone(svc: ApiServices, ctx: RequestContext, name: str,
                             body: schema.AvailabilityZonePUT) -> str:
    svc.policy.authorize(ctx, "availability-zone:put", ctx.project_id)
    sent = body.model_fields_set
    with svc.db.session() as session:
        row = get_availability_zone(session, name, lock=True)
        if "description" in sent:
            row.description = body.description
        if "enabled" in sent:
            row.enabled = bool(body.enabled)
        return row.name


def delete_availability_zone(svc: ApiServices, ctx: RequestContext, name: str) -> None:
    svc.policy.authorize(ctx, "availability-zone:delete", ctx.project_id)
    with svc.db.session() as session:
        row = get_availability_zone(session, name, lock=True)
        if _count(session, LoadBalancer.availability_zone, row.name, live_lbs_only=True):
            raise errors.InUse("Availability Zone", row.name)
        session.execute(update(LoadBalancer).where(LoadBalancer.availability_zone == row.name)
                        .values(availability_zone=None).execution_options(synchronize_session=False))
        session.delete(row)
