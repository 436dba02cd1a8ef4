"""keepalived.conf rendering: the layout of internals §6.2 (unicast VRRP), and refusal of unsafe values."""

from __future__ import annotations

import dataclasses

import pytest

from ostia.domain.enums import AmphoraRole
from ostia.domain.vrrp import VrrpSpec, auth_pass_for, priority_for, vrrp_id_for
from ostia.render.keepalived import render_keepalived
from ostia.render.quoting import Unsafe

LB = "0f6c2a64-7a5e-4c0e-9a57-4f1b8f7f2d10"


def _spec(**kw: object) -> VrrpSpec:
    base = VrrpSpec(load_balancer_id=LB, amphora_id="9b8e5c1d-1111-2222-3333-444455556666", vrrp_id=17,
                    priority=100, src_ip="198.18.1.11", peer_ips=("198.18.1.12",), vips=("198.18.1.10/24",),
                    check_script="/var/lib/ostia/amp/vrrp/check_haproxy")
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def _block(text: str, head: str) -> list[str]:
    """The lines of one `head {` ... `}` block (nested braces included)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{head} {{")
    depth, out = 0, []
    for line in lines[start:]:
        depth += line.count("{") - line.count("}")
        out.append(line.strip())
        if depth == 0:
            break
    return out


def test_instance_is_unicast_backup_nopreempt_with_the_vip_on_eth1() -> None:
    text = render_keepalived(_spec())
    inst = _block(text, f"vrrp_instance {LB.replace('-', '')}")
    for line in ("state BACKUP", "nopreempt", "accept", "interface eth1", "virtual_router_id 17", "priority 100",
                 "unicast_src_ip 198.18.1.11", "198.18.1.12", "198.18.1.10/24 dev eth1", "check_haproxy"):
        assert line in inst, line
    assert "198.18.1.10/24 dev eth1" in _block(text, "virtual_ipaddress")
    assert _block(text, "unicast_peer")[1:-1] == ["198.18.1.12"]


def test_default_is_vrrp3_fast_adverts_without_authentication() -> None:
    inst = _block(render_keepalived(_spec()), f"vrrp_instance {LB.replace('-', '')}")
    assert "version 3" in inst and "advert_int 0.2" in inst
    assert not any(line.startswith("authentication") for line in inst)


def test_vrrp2_carries_pass_authentication_and_whole_second_adverts() -> None:
    text = render_keepalived(_spec(version=2, advert_int=1, auth_pass=auth_pass_for(LB)))
    inst = _block(text, f"vrrp_instance {LB.replace('-', '')}")
    assert "version 2" in inst and "advert_int 1" in inst
    assert _block(text, "authentication")[1:3] == ["auth_type PASS", f"auth_pass {auth_pass_for(LB)}"]
    with pytest.raises(Unsafe):
        render_keepalived(_spec(version=2, advert_int=0.5, auth_pass="abc"))
    with pytest.raises(Unsafe):
        render_keepalived(_spec(version=2, advert_int=1, auth_pass=None))


def test_track_script_checks_haproxy_every_second_fall_2_rise_2() -> None:
    text = render_keepalived(_spec())
    script = _block(text, "vrrp_script check_haproxy")
    assert 'script "/var/lib/ostia/amp/vrrp/check_haproxy"' in script
    assert {"interval 1", "fall 2", "rise 2"} <= set(script)
    assert "enable_script_security" in _block(text, "global_defs")


def test_without_check_script_nothing_is_tracked() -> None:
    text = render_keepalived(_spec(check_script=""))
    assert "vrrp_script" not in text and "track_script" not in text


def test_addresses_are_normalised_and_ipv6_works() -> None:
    text = render_keepalived(_spec(src_ip="2001:db8::0b", peer_ips=("2001:db8:0::c",), vips=("2001:db8::a/64",)))
    assert "unicast_src_ip 2001:db8::b" in text and "2001:db8::a/64 dev eth1" in text


def test_additional_vips_move_with_the_vip_other_family_in_virtual_ipaddress_excluded() -> None:
    # As Octavia's template: one VRRP instance speaks one address family, so an IPv6 additional VIP beside an
    # IPv4 VIP is listed in virtual_ipaddress_excluded (keepalived still adds and removes it with the state).
    text = render_keepalived(_spec(vips=("198.18.1.10/24", "198.18.2.10/24", "2001:db8::0a/64")))
    assert _block(text, "virtual_ipaddress")[1:-1] == ["198.18.1.10/24 dev eth1", "198.18.2.10/24 dev eth1"]
    assert _block(text, "virtual_ipaddress_excluded")[1:-1] == ["2001:db8::a/64 dev eth1"]
    assert "virtual_ipaddress_excluded" not in render_keepalived(_spec())


@pytest.mark.parametrize("bad", [
    {"src_ip": "198.18.1.11\n}"}, {"peer_ips": ("198.18.1.12 dev x",)}, {"vips": ("198.18.1.10/24\nscript x",)},
    {"interface": "eth1 }"}, {"check_script": "/tmp/x; rm -rf /"}, {"check_script": "relative/path"},
    {"vrrp_id": 0}, {"vrrp_id": 256}, {"priority": 255}, {"vips": ()}, {"peer_ips": ("2001:db8::1",)},
    {"vips": ("2001:db8::a/64", "198.18.1.10/24")},
    {"version": 4}, {"load_balancer_id": "lb\n"},
])
def test_unsafe_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(Unsafe):
        render_keepalived(_spec(**bad))


def test_group_values_are_stable_per_load_balancer() -> None:
    assert vrrp_id_for(LB) == vrrp_id_for(LB) and 1 <= vrrp_id_for(LB) <= 255
    ids = {vrrp_id_for(f"lb-{i}") for i in range(200)}
    assert len(ids) > 100  # spread over the range, not one constant
    assert auth_pass_for(LB) == auth_pass_for(LB) and len(auth_pass_for(LB)) == 8
    assert auth_pass_for(LB) != auth_pass_for("other")
    assert priority_for(AmphoraRole.MASTER) == 100 and priority_for(AmphoraRole.BACKUP) == 90
