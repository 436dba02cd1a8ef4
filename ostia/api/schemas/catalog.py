"""Flavors, flavor profiles, availability zones and AZ profiles: request bodies and wire forms (§2.11)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ostia.api.schemas.common import text
from ostia.api.schemas.types import STRICT_OBJECT, Bool, Str255, Str4096, UuidStr
from ostia.db.models import AvailabilityZone, AvailabilityZoneProfile, Flavor, FlavorProfile

# -- flavor profiles ------------------------------------------------------------------------------


class FlavorProfilePOST(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255
    provider_name: Str255
    flavor_data: Str4096


class FlavorProfilePUT(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255 | None = None
    provider_name: Str255 | None = None
    flavor_data: Str4096 | None = None


class FlavorProfilePOSTBody(BaseModel):
    flavorprofile: FlavorProfilePOST


class FlavorProfilePUTBody(BaseModel):
    flavorprofile: FlavorProfilePUT


def flavor_profile_wire(row: FlavorProfile) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "provider_name": row.provider_name, "flavor_data": row.flavor_data}


# -- flavors --------------------------------------------------------------------------------------


class FlavorPOST(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255
    description: Str255 | None = None
    enabled: Bool = True
    flavor_profile_id: UuidStr


class FlavorPUT(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255 | None = None
    description: Str255 | None = None
    enabled: Bool | None = None


class FlavorPOSTBody(BaseModel):
    flavor: FlavorPOST


class FlavorPUTBody(BaseModel):
    flavor: FlavorPUT


def flavor_wire(row: Flavor) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": text(row.description), "enabled": bool(row.enabled),
            "flavor_profile_id": row.flavor_profile_id}


# -- availability zone profiles -------------------------------------------------------------------


class AvailabilityZoneProfilePOST(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255
    provider_name: Str255
    availability_zone_data: Str4096


class AvailabilityZoneProfilePUT(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255 | None = None
    provider_name: Str255 | None = None
    availability_zone_data: Str4096 | None = None


class AvailabilityZoneProfilePOSTBody(BaseModel):
    availability_zone_profile: AvailabilityZoneProfilePOST


class AvailabilityZoneProfilePUTBody(BaseModel):
    availability_zone_profile: AvailabilityZoneProfilePUT


def availability_zone_profile_wire(row: AvailabilityZoneProfile) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "provider_name": row.provider_name,
            "availability_zone_data": row.availability_zone_data}


# -- availability zones (addressed by name; no id) ------------------------------------------------


class AvailabilityZonePOST(BaseModel):
    model_config = STRICT_OBJECT
    name: Str255
    description: Str255 | None = None
    enabled: Bool = True
    availability_zone_profile_id: UuidStr


class AvailabilityZonePUT(BaseModel):
    model_config = STRICT_OBJECT
    description: Str255 | None = None
    enabled: Bool | None = None


class AvailabilityZonePOSTBody(BaseModel):
    availability_zone: AvailabilityZonePOST


class AvailabilityZonePUTBody(BaseModel):
    availability_zone: AvailabilityZonePUT


def availability_zone_wire(row: AvailabilityZone) -> dict[str, Any]:
    return {"name": row.name, "description": text(row.description), "enabled": bool(row.enabled),
            "availability_zone_profile_id": row.availability_zone_profile_id}
