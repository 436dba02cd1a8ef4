"""/v2/lbaas/flavors and /v2/lbaas/flavorprofiles (§2.11)."""

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
from ostia.db.models import Flavor, FlavorProfile

router = APIRouter(route_class=RetryingRoute)

FLAVORS = Listing(
    collection="flavors",
    columns={name: getattr(Flavor, name) for name in ("id", "name", "description", "enabled", "flavor_profile_id")},
    id_column=Flavor.id, created_column=None, taggable=False, to_wire=schema.flavor_wire)
PROFILES = Listing(
    collection="flavorprofiles", links_key="flavorprofile_links",  # sic: Octavia's singular links key
    columns={name: getattr(FlavorProfile, name) for name in ("id", "name", "provider_name", "flavor_data")},
    id_column=FlavorProfile.id, created_column=None, taggable=False, to_wire=schema.flavor_profile_wire)


# -- flavors ----------------------------------------------------------------------------------------


@router.get("/lbaas/flavors")
def list_flavors(request: Request) -> Any:
    return list_resource(request, select(Flavor), FLAVORS, "flavor", None)


@router.post("/lbaas/flavors", status_code=201)
def create_flavor(request: Request, body: schema.FlavorPOSTBody) -> dict[str, Any]:
    flavor_id = actions.create_flavor(services(request), context(request), body.flavor)
    return stored(request, Flavor, flavor_id, "flavor", schema.flavor_wire)


@router.get("/lbaas/flavors/{flavor_id}")
def get_flavor(request: Request, flavor_id: str) -> dict[str, Any]:
    return get_catalog(request, "flavor:get_one", lambda session: get_or_404(session, Flavor, flavor_id, "Flavor"),
                       "flavor", schema.flavor_wire)


@router.put("/lbaas/flavors/{flavor_id}")
def update_flavor(request: Request, flavor_id: str, body: schema.FlavorPUTBody) -> dict[str, Any]:
    actions.update_flavor(services(request), context(request), flavor_id, body.flavor)
    return stored(request, Flavor, flavor_id, "flavor", schema.flavor_wire)


@router.delete("/lbaas/flavors/{flavor_id}", status_code=204)
def delete_flavor(request: Request, flavor_id: str) -> Response:
    actions.delete_flavor(services(request), context(request), flavor_id)
    return Response(status_code=204)


# -- flavor profiles --------------------------------------------------------------------------------


@router.get("/lbaas/flavorprofiles")
def list_flavor_profiles(request: Request) -> Any:
    return list_resource(request, select(FlavorProfile), PROFILES, "flavor-profile", None)


@router.post("/lbaas/flavorprofiles", status_code=201)
def create_flavor_profile(request: Request, body: schema.FlavorProfilePOSTBody) -> dict[str, Any]:
    profile_id = actions.create_profile(services(request), context(request), actions.FLAVOR_PROFILE,
                                        body.flavorprofile)
    return stored(request, FlavorProfile, profile_id, "flavorprofile", schema.flavor_profile_wire)


@router.get("/lbaas/flavorprofiles/{profile_id}")
def get_flavor_profile(request: Request, profile_id: str) -> dict[str, Any]:
    return get_catalog(request, "flavor-profile:get_one",
                       lambda session: get_or_404(session, FlavorProfile, profile_id, "Flavor Profile"),
                       "flavorprofile", schema.flavor_profile_wire)


@router.put("/lbaas/flavorprofiles/{profile_id}")
def update_flavor_profile(request: Request, profile_id: str, body: schema.FlavorProfilePUTBody) -> dict[str, Any]:
    actions.update_profile(services(request), context(request), actions.FLAVOR_PROFILE, profile_id,
                           body.flavorprofile)
    return stored(request, FlavorProfile, profile_id, "flavorprofile", schema.flavor_profile_wire)


@router.delete("/lbaas/flavorprofiles/{profile_id}", status_code=204)
def delete_flavor_profile(request: Request, profile_id: str) -> Response:
    actions.delete_profile(services(request), context(request), actions.FLAVOR_PROFILE, profile_id)
    return Response(status_code=204)
