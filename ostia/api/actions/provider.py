"""Provider drivers as the API sees them (§2.10): which are enabled, what flavor / AZ metadata they take.

Validation of profile metadata follows what Octavia's drivers do: the amphora driver checks the data
against a JSON schema without additional properties (and reports failures as an unsupported option,
501); the noop driver accepts anything.
"""

from __future__ import annotations

import json
from typing import Any

from oslo_config import cfg

from ostia.domain import errors, providers
from ostia.domain.enums import Topology

# JSON type each amphora metadata key must have; keys themselves come from `domain.providers`.
_JSON_TYPES: dict[str, tuple[str, type]] = {
    "string": ("string", str), "boolean": ("boolean", bool), "array": ("array", list),
}
AMPHORA_FLAVOR_TYPES = {"loadbalancer_topology": "string", "compute_flavor": "string", "amp_image_tag": "string",
                        "sriov_vip": "boolean", "allow_member_sriov": "boolean"}
AMPHORA_AZ_TYPES = {"compute_zone": "string", "volume_zone": "string", "management_network": "string",
                    "valid_vip_networks": "array"}
# Octavia lists the topologies in this order in its schema's enum (and so in the error message).
TOPOLOGIES = [Topology.ACTIVE_STANDBY.value, Topology.SINGLE.value]


class UnsupportedOption(errors.ProviderNotSupported):
    """Octavia's ProviderUnsupportedOptionError (501), worded as the real server words it."""

    def __init__(self, provider: str, detail: str) -> None:
        errors.OstiaError.__init__(self, f"Provider '{provider}' does not support a requested option: {detail}")


def driver_for(conf: cfg.ConfigOpts, provider: str) -> str:
    """The driver behind an enabled provider name: 400 if not enabled, 501 if enabled but unknown."""
    if provider not in conf.api_settings.enabled_provider_drivers:
        raise errors.BadRequest(f"Provider '{provider}' is not enabled.")
    driver = providers.canonical(provider)
    if driver not in (providers.AMPHORA, providers.NOOP):
        raise errors.ProviderNotFound(provider)
    return driver


def capabilities(conf: cfg.ConfigOpts, provider: str, kind: str) -> list[dict[str, str]]:
    """`kind` is "flavor" or "availability_zone"."""
    driver_for(conf, provider)
    caps = providers.flavor_capabilities(provider) if kind == "flavor" else providers.az_capabilities(provider)
    return [{"name": c.name, "description": c.description} for c in caps]


def parse_metadata(raw: str, option: str) -> dict[str, Any]:
    """flavor_data / availability_zone_data: a JSON object in a string (400 otherwise)."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise errors.InvalidOption(raw, option) from None
    if not isinstance(data, dict):
        raise errors.InvalidOption(raw, option)
    return data


def validate_metadata(conf: cfg.ConfigOpts, provider: str, data: dict[str, Any], kind: str) -> None:
    """What the provider driver's validate_flavor / validate_availability_zone would refuse."""
    if driver_for(conf, provider) != providers.AMPHORA:
        return  # the noop driver takes any metadata
    caps = providers.flavor_capabilities(provider) if kind == "flavor" else providers.az_capabilities(provider)
    allowed = [c.name for c in caps]
    extra = [key for key in data if key not in allowed]
    if extra:
        verb = "was" if len(extra) == 1 else "were"
        listed = ", ".join(repr(k) for k in extra)
        raise UnsupportedOption(provider, f"Additional properties are not allowed ({listed} {verb} unexpected)")
    types = AMPHORA_FLAVOR_TYPES if kind == "flavor" else AMPHORA_AZ_TYPES
    for key, value in data.items():
        wanted, python_type = _JSON_TYPES[types.get(key, "string")]
        if not isinstance(value, python_type):
            raise UnsupportedOption(provider, f"{key} {value!r} is not of type {wanted!r}")
        if key == "loadbalancer_topology" and value not in TOPOLOGIES:
            raise UnsupportedOption(provider, f"{key} {value!r} is not one of {TOPOLOGIES!r}")
