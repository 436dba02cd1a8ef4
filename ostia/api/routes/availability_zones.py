"""/v2/lbaas/availabilityzones (by name) and /v2/lbaas/availabilityzoneprofiles (§2.11)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from ostia.api.actions import catalog as actions
from ostia.api.actions.common import get_or_404
from ostia.api.query import Listing
from ostia.api.routes._crud import get_catalog, stored
from ostia.api.routes.deps import context, list_resource, services
from ostia.api.routes.retrying import RetryingRoute
from ostia.api.schemas import catalog as schema
from ostia.db.models import AvailabilityZone, AvailabilityZoneProfile

router = APIRouter(route_class=RetryingRoute)

ZONES = Listing(
    collection="availability_zones",
    columns={name: getattr(AvailabilityZone, name)
             for name in ("name", "description", "enabled", "availability_zone_profile_id")},
    id_column=AvailabilityZone.name, id_attr="name", created_column=None, taggable=False,
    to_wire=schema.availability_zone_wire)
PROFILES = Listing(
    collection="availability_zone_profiles", links_key="availability_zone_profile_links",  # sic (Octavia)
    columns={name: getattr(AvailabilityZoneProfile, name)
             for name in ("id", "name", "provider_name", "availability_zone_data")},
    id_column=AvailabilityZoneProfile.id, created_column=None, taggable=False,
    to_wire=schema.availability_zone_profile_wire)


# -- availability zones -----------------------------------------------------------------------------


@router.get("/lbaas/availabilityzones")
def list_availability_zones(request: Request) -> Any:
    return list_resource(request, select(AvailabilityZone), ZONES, "availability-zone", None)


@router.post("/lbaas/availabilityzones", status_code=201)
def create_availability_zone(request: Request, body: schema.AvailabilityZonePOSTBody) -> dict[str, Any]:
    name = actions.create_availability_zone(services(request), context(request), body.availability_zone)
    return stored(request, AvailabilityZone, name, "availability_zone", schema.availability_zone_wire)


@router.get("/lbaas/availabilityzones/{name}")
def get_availability_zone(request: Request, name: str) -> dict[str, Any]:
    return get_catalog(request, "availability-zone:get_one",
                       lambda session: actions.get_availability_zone(session, name),
                       "availability_zone", schema.availability_zone_wire)


@router.put("/lbaas/availabilityzones/{name}")
def update_availability_zone(request: Request, name: str, body: schema.AvailabilityZonePUTBody) -> dict[str, Any]:
    # The row's own spelling of the name (a case-insensitive collation may have matched another).
    row_name = actions.update_availability_zone(services(request), context(request), name, body.availability_zone)
    return stored(request, AvailabilityZone, row_name, "availability_zone", schema.availability_zone_wire)


@router.delete("/lbaas/availabilityzones/{name}", status_code=204)
def delete_availability_zone(request: Request, name: str) -> Response:
    actions.delete_availability_zone(services(request), context(request), name)
    return Response(status_code=204)


# -- availability zone profiles ---------------------------------------------------------------------


@router.get("/lbaas/availabilityzoneprofiles")
def list_availability_zone_profiles(request: Request) -> Any:
    return list_resource(request, select(AvailabilityZoneProfile), PROFILES, "availability-zone-profile", None)


@router.post("/lbaas/availabilityzoneprofiles", status_code=201)
def create_availability_zone_profile(request: Request,
                                     body: schema.AvailabilityZoneProfilePOSTBody) -> dict[str, Any]:
    profile_id = actions.create_profile(services(request), context(request), actions.AZ_PROFILE,
                                        body.availability_zone_profile)
    return stored(request, AvailabilityZoneProfile, profile_id, "availability_zone_profile",
                  schema.availability_zone_profile_wire)


@router.get("/lbaas/availabilityzoneprofiles/{profile_id}")
def get_availability_zone_profile(request: Request, profile_id: str) -> dict[str, Any]:
    return get_catalog(request, "availability-zone-profile:get_one",
                       lambda session: get_or_404(session, AvailabilityZoneProfile, profile_id,
                                                  "Availability Zone Profile"),
                       "availability_zone_profile", schema.availability_zone_profile_wire)


@router.put("/lbaas/availabilityzoneprofiles/{profile_id}")
def update_availability_zone_profile(request: Request, profile_id: str,
                                     body: schema.AvailabilityZoneProfilePUTBody) -> dict[str, Any]:
    actions.update_profile(services(request), context(request), actions.AZ_PROFILE, profile_id,
                           body.availability_zone_profile)
    return stored(request, AvailabilityZoneProfile, profile_id, "availability_zone_profile",
                  schema.availability_zone_profile_wire)


@router.delete("/lbaas/availabilityzoneprofiles/{profile_id}", status_code=204)
def delete_availability_zone_profile(request: Request, profile_id: str) -> Response:
    actions.delete_profile(services(request), context(request), actions.AZ_PROFILE, profile_id)
    return Response(status_code=204)
