"""Listener request bodies and wire form (§2.2)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from ostia.api.schemas import l7policy as l7policy_schema
from ostia.api.schemas.common import common, ids, text
from ostia.api.schemas.tls import Alpn, Ciphers, TlsVersion
from ostia.api.schemas.types import INT32_MAX, STRICT_OBJECT, Bool, CidrStr, Str36, Str255, TagList, UuidStr
from ostia.db.models import Listener
from ostia.domain.enums import ClientAuthentication, ListenerProtocol
from ostia.domain.listeners import MAX_TIMEOUT

Timeout = Annotated[int, Field(ge=0, le=MAX_TIMEOUT)]
ConnectionLimit = Annotated[int, Field(ge=-1, le=INT32_MAX)]
HstsMaxAge = Annotated[int, Field(ge=0, le=INT32_MAX)]

# A model's fields are validated, and the first bad one reported, in pydantic's order: its bases' fields,
# last base first, then its own. POST and PUT therefore list their own leading fields in a last base, the
# options they share next, and their own trailing fields in the class itself, to keep Octavia's order.


class _ListenerOptions(BaseModel):
    """The settings POST and PUT take alike (absent or null: the default)."""

    connection_limit: ConnectionLimit | None = None
    default_pool_id: UuidStr | None = None
    default_tls_container_ref: Str255 | None = None
    sni_container_refs: list[Str255] | None = None
    client_authentication: ClientAuthentication | None = None
    client_ca_tls_container_ref: Str255 | None = None
    client_crl_container_ref: Str255 | None = None
    insert_headers: dict[str, Str255] | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None
    timeout_tcp_inspect: Timeout | None = None
    allowed_cidrs: list[CidrStr] | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None
    hsts_max_age: HstsMaxAge | None = None


class _ListenerPOSTLeading(BaseModel):
    loadbalancer_id: UuidStr
    protocol: ListenerProtocol
    protocol_port: Annotated[int, Field(ge=1, le=65535)]
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool = True
    project_id: Str36 | None = None  # deprecated: listeners inherit the LB's project
    tenant_id: Str36 | None = None


class ListenerPOST(_ListenerOptions, _ListenerPOSTLeading):
    model_config = STRICT_OBJECT
    hsts_include_subdomains: Bool = False
    hsts_preload: Bool = False
    tags: TagList = Field(default_factory=list)


class ListenerPOSTBody(BaseModel):
    listener: ListenerPOST


class _ListenerPUTLeading(BaseModel):
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool | None = None


class ListenerPUT(_ListenerOptions, _ListenerPUTLeading):
    """Only the keys present are changed; an explicit null resets a field to its default (§1.3)."""

    model_config = STRICT_OBJECT
    hsts_include_subdomains: Bool | None = None
    hsts_preload: Bool | None = None
    tags: TagList | None = None


class ListenerPUTBody(BaseModel):
    listener: ListenerPUT


def to_wire(listener: Listener, full: bool = False) -> dict[str, Any]:
    out = {
        **common(listener),
        "name": text(listener.name),
        "description": text(listener.description),
        "protocol": listener.protocol,
        "protocol_port": listener.protocol_port,
        "connection_limit": listener.connection_limit,
        "default_pool_id": listener.default_pool_id,
        "default_tls_container_ref": listener.default_tls_container_ref,
        "sni_container_refs": list(listener.sni_container_refs or []),
        "client_authentication": listener.client_authentication,
        "client_ca_tls_container_ref": listener.client_ca_tls_container_ref,
        "client_crl_container_ref": listener.client_crl_container_ref,
        "insert_headers": dict(listener.insert_headers or {}),
        "timeout_client_data": listener.timeout_client_data,
        "timeout_member_connect": listener.timeout_member_connect,
        "timeout_member_data": listener.timeout_member_data,
        "timeout_tcp_inspect": listener.timeout_tcp_inspect,
        "allowed_cidrs": list(listener.allowed_cidrs) if listener.allowed_cidrs else None,
        "tls_ciphers": listener.tls_ciphers,
        "tls_versions": list(listener.tls_versions) if listener.tls_versions is not None else None,
        "alpn_protocols": list(listener.alpn_protocols) if listener.alpn_protocols is not None else None,
        "hsts_max_age": listener.hsts_max_age,
        "hsts_include_subdomains": bool(listener.hsts_include_subdomains),
        "hsts_preload": bool(listener.hsts_preload),
        "l7policies": ids(listener.l7policies),
    }
    if full:
        # The graph-create response carries full policies (with full rules) and no `loadbalancers`.
        out["l7policies"] = [l7policy_schema.to_wire_full(p) for p in listener.l7policies]
    else:
        out["loadbalancers"] = [{"id": listener.load_balancer_id}]
    return out


def to_wire_full(listener: Listener) -> dict[str, Any]:
    return to_wire(listener, full=True)
