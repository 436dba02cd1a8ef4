"""Pure member rules: reserved addresses, VIP/member IP families, batch planning (§2.4)."""

from __future__ import annotations

from typing import Any

import pytest

from ostia.domain import errors, rules_member
from ostia.domain.rules_member import BatchPlan, plan_batch


def test_reserved_addresses_compare_exploded_and_upper_case() -> None:
    reserved = ["169.254.169.254", "fd00::1"]
    rules_member.check_not_reserved("10.0.0.1", reserved)
    rules_member.check_not_reserved("fd00::2", reserved)
    with pytest.raises(errors.InvalidOption) as exc:
        rules_member.check_not_reserved("169.254.169.254", reserved)
    assert exc.value.message == "169.254.169.254 is not a valid option for member address"
    with pytest.raises(errors.InvalidOption) as exc:
        rules_member.check_not_reserved("FD00:0::1", reserved)
    assert exc.value.message == "FD00:0000:0000:0000:0000:0000:0000:0001 is not a valid option for member address"
    rules_member.check_not_reserved("169.254.169.254", [])


def test_amphora_lvs_pools_need_a_vip_of_the_member_family() -> None:
    check = rules_member.check_ip_family
    check("amphora", "UDP", True, ["192.0.2.1", None], ["10.0.0.1"])
    check("amphora", "UDP", True, ["192.0.2.1", "2001:db8::1"], ["2001:db8::5", "10.0.0.1"])
    check("amphora", "HTTP", True, ["192.0.2.1"], ["2001:db8::5"])  # HAProxy translates
    check("amphora", "UDP", False, ["192.0.2.1"], ["2001:db8::5"])  # not serving a listener yet
    check("noop_driver", "SCTP", True, ["192.0.2.1"], ["2001:db8::5"])
    with pytest.raises(errors.ProviderNotSupported) as exc:
        check("octavia", "SCTP", True, ["192.0.2.1"], ["2001:db8::5"])
    assert exc.value.status_code == 501
    assert exc.value.message == ("Provider 'octavia' does not support a requested action/option: This provider "
                                 "doesn't support mixing IPv4 and IPv6 addresses for its VIP and members in SCTP "
                                 "load balancers.")


def existing(*rows: tuple[str, int, dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    out = {}
    for n, (address, port, values) in enumerate(rows):
        out[(address, port)] = {"id": f"m{n}", "provisioning_status": "ACTIVE", "weight": 1, "backup": False,
                                "name": None, "tags": [], **values}
    return out


def test_batch_plan_creates_updates_and_deletes() -> None:
    have = existing(("10.0.0.1", 80, {}), ("10.0.0.2", 80, {"weight": 3}), ("10.0.0.3", 80, {}),
                    ("10.0.0.4", 80, {"provisioning_status": "ERROR"}))
    plan = plan_batch(have, [
        (("10.0.0.1", 80), {"weight": 1, "backup": False}),   # unchanged: left alone
        (("10.0.0.2", 80), {"weight": 1, "backup": False}),   # weight reset to its default
        (("10.0.0.4", 80), {"weight": 1}),                    # unchanged but ERROR: re-applied
        (("10.0.0.5", 80), {"weight": 1}),                    # new
        (("10.0.0.1", 81), {"weight": 1}),                    # same address, other port: new
    ], additive_only=False)
    assert plan.create == [3, 4]
    assert plan.update == [("m1", {"weight": 1}), ("m3", {})]
    assert plan.delete == ["m2"]
    assert plan

    additive = plan_batch(have, [(("10.0.0.5", 80), {})], additive_only=True)
    assert (additive.create, additive.update, additive.delete) == ([0], [], [])


def test_batch_plan_compares_tags_as_sets_and_detects_no_op() -> None:
    have = existing(("10.0.0.1", 80, {"tags": ["b", "a"], "name": "x"}))
    assert not plan_batch(have, [(("10.0.0.1", 80), {"tags": ["a", "b", "a"], "name": "x"})], additive_only=False)
    assert plan_batch(have, [(("10.0.0.1", 80), {"tags": ["a"]})], additive_only=False).update == \
        [("m0", {"tags": ["a"]})]
    assert not plan_batch({}, [], additive_only=False)
    assert not plan_batch(have, [], additive_only=True)
    assert plan_batch(have, [], additive_only=False) == BatchPlan(delete=["m0"])


def test_batch_plan_refuses_a_member_twice() -> None:
    with pytest.raises(errors.ValidationFailure) as exc:
        plan_batch({}, [(("10.0.0.1", 80), {}), (("10.0.0.2", 80), {}), (("10.0.0.1", 80), {})],
                   additive_only=True)
    assert exc.value.message == "Validation failure: Member must be updated only once in the same request."
