"""POST /plug/vip, POST /plug/network, GET /interface/{ip}."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from ostia.agent.app import Agent, get_agent
from ostia.agent.errors import AgentError
from ostia.agent.interfaces import FixedIp, IPAddress, IPNetwork, Plug, Route
from ostia.agent.keepalived import release_stale_vips
from ostia.agent.routes._common import ok

router = APIRouter()


class HostRoute(BaseModel):
    model_config = ConfigDict(extra="ignore")
    destination: str
    nexthop: str


class AdditionalVip(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ip_address: str
    subnet_cidr: str
    gateway: str | None = None
    host_routes: list[HostRoute] = []


class VipPlugBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    subnet_cidr: str
    mac_address: str
    gateway: str | None = None
    mtu: int | None = None
    vrrp_ip: str | None = None
    host_routes: list[HostRoute] = []
    additional_vips: list[AdditionalVip] = []


class FixedIpBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ip_address: str
    subnet_cidr: str
    gateway: str | None = None
    host_routes: list[HostRoute] = []


class NetworkPlugBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    mac_address: str
    fixed_ips: list[FixedIpBody] = []
    mtu: int | None = None


def _ip(value: str | None, message: str) -> IPAddress:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise AgentError(400, message, f"{value!r} is not an IP address") from None


def _net(value: str, message: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise AgentError(400, message, f"{value!r} is not a CIDR") from None


def _fixed(address: str, cidr: str, gateway: str | None, routes: list[HostRoute], bad_ip: str,
           bad_subnet: str) -> FixedIp:
    ip, net = _ip(address, bad_ip), _net(cidr, bad_subnet)
    if ip.version != net.version:
        raise AgentError(400, bad_subnet, f"{ip} is not in the address family of {net}")
    gw = _ip(gateway, bad_subnet) if gateway else None
    return FixedIp(ip, net, gw, tuple(_route(r, bad_subnet) for r in routes))


def _route(route: HostRoute, message: str) -> Route:
    return Route(_net(route.destination, message), _ip(route.nexthop, message))


def _mtu(mtu: int | None) -> int | None:
    if mtu is not None and not 68 <= mtu <= 65535:
        raise AgentError(400, "Invalid MTU", f"{mtu} is out of range")
    return mtu


@router.post("/1.0/plug/vip/{vip}")
def plug_vip(vip: str, body: VipPlugBody, agent: Agent = Depends(get_agent)) -> Any:
    vip_ip = _fixed(vip, body.subnet_cidr, body.gateway, body.host_routes, "Invalid VIP",
                    "Invalid subnet information")
    addresses: list[FixedIp] = []
    if body.vrrp_ip:
        addresses.append(FixedIp(_ip(body.vrrp_ip, "Invalid VRRP Address"), vip_ip.network))
    extra = [_fixed(v.ip_address, v.subnet_cidr, v.gateway, v.host_routes, "Invalid VIP",
                    "Invalid subnet information") for v in body.additional_vips]
    keepalived_owns = agent.settings.topology != "SINGLE" and bool(body.mac_address)
    if not keepalived_owns:  # SINGLE: the VIPs live here for good
        addresses += [vip_ip, *extra]
    plug = Plug("vip", body.mac_address, tuple(addresses), _mtu(body.mtu), vip_ip.gateway,
                vip_ip.host_routes + tuple(r for v in extra for r in v.host_routes),
                vips=(vip_ip, *extra) if keepalived_owns else ())
    details = agent.interfaces.plug(plug)
    if keepalived_owns:  # keepalived adds the VIPs on the MASTER; one it left behind when killed goes now
        release_stale_vips(agent.settings, agent.keepalived, agent.interfaces)
    return ok(202, details)


@router.post("/1.0/plug/network")
def plug_network(body: NetworkPlugBody, agent: Agent = Depends(get_agent)) -> Any:
    fixed = [_fixed(f.ip_address, f.subnet_cidr, f.gateway, f.host_routes, "Invalid network port",
                    "Invalid network port") for f in body.fixed_ips]
    # Member networks get no default route: the VIP network's gateway is the way out.
    plug = Plug("network", body.mac_address, tuple(fixed), _mtu(body.mtu), None,
                tuple(r for f in fixed for r in f.host_routes))
    return ok(202, agent.interfaces.plug(plug))


@router.get("/1.0/interface/{ip}")
def get_interface(ip: str, agent: Agent = Depends(get_agent)) -> Any:
    address = _ip(ip, "Invalid IP address")
    name = agent.interfaces.find(address)
    if name is None:
        raise AgentError(404, "Error interface not found for IP address", ip)
    return {"message": "OK", "interface": name}
