"""Provider drivers the API offers, and what each supports (§2.10)."""

from __future__ import annotations

import dataclasses

from ostia.domain.errors import ProviderUnsupportedOption

AMPHORA = "amphora"
OCTAVIA_ALIAS = "octavia"
NOOP = "noop_driver"


@dataclasses.dataclass(frozen=True)
class Capability:
    name: str
    description: str


AMPHORA_FLAVOR_CAPABILITIES = (
    Capability("loadbalancer_topology", "The load balancer topology. One of: SINGLE - One amphora per load "
               "balancer. ACTIVE_STANDBY - Two amphora per load balancer."),
    Capability("compute_flavor", "The compute driver flavor ID."),
    Capability("amp_image_tag", "The amphora image tag."),
    Capability("sriov_vip", "When true, the VIP port will be created using an SR-IOV VF port."),
    Capability("allow_member_sriov", "When true, users can request a member port be SR-IOV enabled."),
)
AMPHORA_AZ_CAPABILITIES = (
    Capability("compute_zone", "The compute availability zone."),
    Capability("volume_zone", "The volume availability zone."),
    Capability("management_network", "The management network ID for the amphora."),
    Capability("valid_vip_networks", "List of network IDs that are allowed for VIP use. This overrides/replaces "
               "the list of allowed networks configured in `octavia.conf`."),
)
NOOP_FLAVOR_CAPABILITIES = (Capability("some_topology", "A fake topology for the noop driver."),)
NOOP_AZ_CAPABILITIES = (Capability("compute_zone", "A fake compute zone for the noop driver."),)


# What the amphora provider cannot serve: SCTP would need LVS virtual servers in the amphora, which Ostia's
# amphorae do not run. Refused at the API (501), never accepted and then left in ERROR by the worker.
AMPHORA_UNSUPPORTED_PROTOCOLS = frozenset({"SCTP"})


def canonical(provider: str) -> str:
    return AMPHORA if provider == OCTAVIA_ALIAS else provider


def flavor_capabilities(provider: str) -> tuple[Capability, ...]:
    return AMPHORA_FLAVOR_CAPABILITIES if canonical(provider) == AMPHORA else NOOP_FLAVOR_CAPABILITIES


def az_capabilities(provider: str) -> tuple[Capability, ...]:
    return AMPHORA_AZ_CAPABILITIES if canonical(provider) == AMPHORA else NOOP_AZ_CAPABILITIES


def check_protocol(provider: str | None, protocol: str, kind: str) -> None:
    """501 for a listener/pool protocol the provider cannot serve; `kind` is "listeners" or "pools"."""
    name = provider or AMPHORA
    if canonical(name) == AMPHORA and protocol in AMPHORA_UNSUPPORTED_PROTOCOLS:
        raise ProviderUnsupportedOption(name, f"Amphora provider does not support {protocol} protocol {kind}.")
