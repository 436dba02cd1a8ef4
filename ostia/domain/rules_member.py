"""Member rules with no I/O (§2.4, §3.8, §3.9): reserved addresses, VIP/member IP families, batch planning."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ostia.domain import errors, providers
from ostia.domain.enums import ProvisioningStatus
from ostia.domain.rules_pool import LVS_PROTOCOLS

MemberKey = tuple[str, int]  # (normalized address, protocol_port): what a batch update matches on
DUPLICATE_IN_BATCH = "Member must be updated only once in the same request."


def exploded_upper(address: str) -> str:
    """Octavia compares reserved addresses in this form (IPv6 fully written out, upper case)."""
    try:
        return ipaddress.ip_address(address.strip()).exploded.upper()
    except ValueError:
        return address.strip().upper()


def check_not_reserved(address: str, reserved: Iterable[str]) -> None:
    value = exploded_upper(address)
    if value in {exploded_upper(r) for r in reserved if r.strip()}:
        raise errors.InvalidOption(value, "member address")


def check_ip_family(provider: str | None, pool_protocol: str, attached: bool, vips: Sequence[str | None],
                    addresses: Iterable[str]) -> None:
    """Amphora LVS pools (UDP/SCTP) cannot translate between IPv4 and IPv6: each member needs a VIP of its family.

    Only pools that serve a listener are concerned (the check is against the listeners' load balancer).
    """
    if providers.canonical(provider or providers.AMPHORA) != providers.AMPHORA:
        return
    if pool_protocol not in LVS_PROTOCOLS or not attached:
        return
    families = {ipaddress.ip_address(v).version for v in vips if v}
    if not families:
        return
    for address in addresses:
        if ipaddress.ip_address(address).version not in families:
            raise errors.ProviderNotSupported(
                provider or providers.AMPHORA,
                "This provider doesn't support mixing IPv4 and IPv6 addresses for its VIP and members in "
                f"{pool_protocol} load balancers.")


@dataclasses.dataclass
class BatchPlan:
    """What a batch member update does: indexes of requested members to create, (id, changes) to update and
    ids to delete. Empty when nothing would change."""

    create: list[int] = dataclasses.field(default_factory=list)
    update: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    delete: list[str] = dataclasses.field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.create or self.update or self.delete)


def _same(current: Any, wanted: Any, field: str) -> bool:
    if field == "tags":
        return sorted(set(current or [])) == sorted(set(wanted or []))
    return bool(current == wanted)


def plan_batch(existing: Mapping[MemberKey, Mapping[str, Any]], requested: Sequence[tuple[MemberKey, dict[str, Any]]],
               additive_only: bool) -> BatchPlan:
    """Match requested members to existing ones on (address, protocol_port).

    `existing` maps each key to the member's current values (with `id` and `provisioning_status`);
    `requested` pairs each key with the values a match must end up with. A matched member is only updated
    when a value differs or it is not ACTIVE (e.g. ERROR, so re-sending the batch repairs it).
    """
    plan = BatchPlan()
    seen: set[MemberKey] = set()
    for index, (key, wanted) in enumerate(requested):
        if key in seen:
            raise errors.ValidationFailure(DUPLICATE_IN_BATCH)
        seen.add(key)
        current = existing.get(key)
        if current is None:
            plan.create.append(index)
            continue
        changes = {f: v for f, v in wanted.items() if not _same(current.get(f), v, f)}
        if changes or current.get("provisioning_status") != ProvisioningStatus.ACTIVE:
            plan.update.append((str(current["id"]), changes))
    if not additive_only:
        plan.delete = [str(row["id"]) for key, row in existing.items() if key not in seen]
    return plan
