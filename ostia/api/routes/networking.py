"""A read-only Networking (Neutron) view of the networks Ostia's drivers own.

python-octaviaclient resolves --vip-subnet-id and friends through the Networking API, even for UUIDs
(client-notes.md); with one endpoint for everything those calls land here, under /v2.0 and /v2.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from ostia.api import openapi_errors
from ostia.api.routes.deps import query_params, services
from ostia.api.routes.retrying import RetryingRoute
from ostia.api.schemas.common import ts
from ostia.db.models import Network, Port, Subnet

router = APIRouter(route_class=RetryingRoute, responses=openapi_errors.NEUTRON_NOT_FOUND)


def network_wire(net: Network, subnet_ids: list[str]) -> dict[str, Any]:
    return {"id": net.id, "name": net.name, "status": "ACTIVE", "admin_state_up": True, "shared": True,
            "subnets": subnet_ids, "project_id": net.project_id or "", "tenant_id": net.project_id or "",
            "router:external": False, "mtu": 1500, "created_at": ts(net.created_at),
            "updated_at": ts(net.updated_at or net.created_at), "tags": [], "description": "",
            "availability_zones": [], "ipv4_address_scope": None, "ipv6_address_scope": None,
            "port_security_enabled": True, "revision_number": 0}


def subnet_wire(sub: Subnet) -> dict[str, Any]:
    return {"id": sub.id, "name": sub.name, "network_id": sub.network_id, "cidr": sub.cidr,
            "ip_version": sub.ip_version, "gateway_ip": sub.gateway_ip, "enable_dhcp": False,
            "allocation_pools": [], "host_routes": [], "dns_nameservers": [], "project_id": "",
            "tenant_id": "", "description": "", "tags": [], "created_at": ts(sub.created_at),
            "updated_at": ts(sub.updated_at or sub.created_at), "subnetpool_id": None,
            "ipv6_ra_mode": None, "ipv6_address_mode": None, "revision_number": 0, "service_types": []}


def port_wire(port: Port) -> dict[str, Any]:
    return {"id": port.id, "name": port.name, "network_id": port.network_id, "mac_address": port.mac_address,
            "fixed_ips": [{"subnet_id": port.subnet_id, "ip_address": port.ip_address}],
            "device_id": port.device_id, "device_owner": port.device_owner, "status": "ACTIVE",
            "admin_state_up": True, "project_id": port.project_id or "", "tenant_id": port.project_id or "",
            "security_groups": [], "allowed_address_pairs": [], "description": "", "tags": [],
            "created_at": ts(port.created_at), "updated_at": ts(port.updated_at or port.created_at),
            "revision_number": 0}


_FILTERS = {"id", "name", "network_id"}


def _filtered(model: Any, request: Request) -> Any:
    stmt = select(model).order_by(model.name)
    for key, values in query_params(request).items():
        if key in _FILTERS and hasattr(model, key):
            stmt = stmt.where(getattr(model, key).in_(values))
    return stmt


def _not_found(kind: str, ident: str) -> JSONResponse:
    return JSONResponse({"NeutronError": {"type": f"{kind}NotFound", "detail": "",
                                          "message": f"{kind} {ident} could not be found."}}, status_code=404)


@router.get("/networks")
def list_networks(request: Request) -> dict[str, Any]:
    with services(request).db.session() as session:
        nets = list(session.scalars(_filtered(Network, request)))
        subs = list(session.scalars(select(Subnet)))
        return {"networks": [network_wire(n, [s.id for s in subs if s.network_id == n.id]) for n in nets]}


@router.get("/networks/{net_id}", response_model=None)
def get_network(request: Request, net_id: str) -> dict[str, Any] | JSONResponse:
    with services(request).db.session() as session:
        net = session.get(Network, net_id)
        if net is None:
            return _not_found("Network", net_id)
        subs = session.scalars(select(Subnet.id).where(Subnet.network_id == net.id))
        return {"network": network_wire(net, list(subs))}


@router.get("/subnets")
def list_subnets(request: Request) -> dict[str, Any]:
    with services(request).db.session() as session:
        return {"subnets": [subnet_wire(s) for s in session.scalars(_filtered(Subnet, request))]}


@router.get("/subnets/{subnet_id}", response_model=None)
def get_subnet(request: Request, subnet_id: str) -> dict[str, Any] | JSONResponse:
    with services(request).db.session() as session:
        sub = session.get(Subnet, subnet_id)
        return {"subnet": subnet_wire(sub)} if sub else _not_found("Subnet", subnet_id)


@router.get("/ports")
def list_ports(request: Request) -> dict[str, Any]:
    with services(request).db.session() as session:
        return {"ports": [port_wire(p) for p in session.scalars(_filtered(Port, request))]}


@router.get("/ports/{port_id}", response_model=None)
def get_port(request: Request, port_id: str) -> dict[str, Any] | JSONResponse:
    with services(request).db.session() as session:
        port = session.get(Port, port_id)
        return {"port": port_wire(port)} if port else _not_found("Port", port_id)
