"""keepalived.conf for one amphora of an ACTIVE_STANDBY load balancer: `render_keepalived(spec)`.

A pure function of a `VrrpSpec` (internals §6.2, unicast VRRP). Every value is checked before it reaches the
template: keepalived's parser has no quoting for most words, so an address, name or path that is not exactly
what it should be is refused (`Unsafe`) rather than written.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re

import jinja2

from ostia.domain.vrrp import VrrpSpec
from ostia.render.quoting import Unsafe

_IFNAME = re.compile(r"\A[A-Za-z0-9_.-]{1,15}\Z")
_ID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
_PASS = re.compile(r"\A[A-Za-z0-9]{1,8}\Z")  # VRRPv2 PASS: 8 octets on the wire
# keepalived reads the script line as a command; a plain absolute path needs no quoting rules of its own.
_PATH = re.compile(r"\A/[A-Za-z0-9_./-]+\Z")


@functools.cache
def _environment() -> jinja2.Environment:
    # Config text, not HTML: values are checked above, never escaped by Jinja.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ostia.render", "templates"), autoescape=False, trim_blocks=True,
        lstrip_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise Unsafe(f"not an IP address: {value!r}") from None


def _cidr(value: str) -> str:
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise Unsafe(f"not an address/prefix: {value!r}") from None
    return f"{iface.ip}/{iface.network.prefixlen}"


def _checked(spec: VrrpSpec) -> None:
    for word, pattern in ((spec.interface, _IFNAME), (spec.load_balancer_id, _ID), (spec.amphora_id, _ID)):
        if not pattern.match(word):
            raise Unsafe(f"not usable in keepalived.conf: {word!r}")
    if not 1 <= spec.vrrp_id <= 255:
        raise Unsafe(f"virtual_router_id out of range: {spec.vrrp_id}")
    if not 1 <= spec.priority <= 254:
        raise Unsafe(f"priority out of range: {spec.priority}")
    if spec.version not in (2, 3):
        raise Unsafe(f"VRRP version {spec.version}")
    # VRRPv2 counts whole seconds; v3 centiseconds up to 40.95 s.
    if spec.version == 2 and (spec.advert_int != int(spec.advert_int) or not 1 <= spec.advert_int <= 255):
        raise Unsafe(f"VRRPv2 advert_int must be whole seconds: {spec.advert_int}")
    if spec.version == 3 and not 0.01 <= spec.advert_int <= 40.95:
        raise Unsafe(f"VRRPv3 advert_int out of range: {spec.advert_int}")
    if spec.version == 2 and not (spec.auth_pass and _PASS.match(spec.auth_pass)):
        raise Unsafe("VRRPv2 needs an auth_pass of 1-8 letters or digits")
    if spec.check_script and not _PATH.match(spec.check_script):
        raise Unsafe(f"not usable as a script path: {spec.check_script!r}")
    if not spec.vips:
        raise Unsafe("no virtual address")
    src = ipaddress.ip_address(_address(spec.src_ip))
    # Additional VIPs of the other family are allowed: they go to virtual_ipaddress_excluded.
    for other in (*spec.peer_ips, spec.vips[0].split("/")[0]):
        if ipaddress.ip_address(_address(other)).version != src.version:
            raise Unsafe(f"{other} is not in the address family of {src}")


def render_keepalived(spec: VrrpSpec) -> str:
    _checked(spec)
    normal = dataclasses.replace(spec, src_ip=_address(spec.src_ip),
                                 peer_ips=tuple(_address(p) for p in spec.peer_ips),
                                 vips=tuple(_cidr(v) for v in spec.vips))
    # "1" rather than "1.0" for whole seconds (VRRPv2's parser wants an integer)
    advert = spec.advert_int
    advert_text = str(int(advert)) if advert == int(advert) else f"{advert:.2f}".rstrip("0")
    template = _environment().get_template("keepalived/keepalived.conf.j2")
    return template.render(s=normal, advert_int=advert_text, router_id=spec.amphora_id.replace("-", "")[:32])
