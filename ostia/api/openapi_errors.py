"""The error answers in the OpenAPI document: what faults.py and the middleware really send.

FastAPI documents a 422 with its own validation body on every operation that takes input; Ostia never sends
it (validation errors are Octavia's 400 fault) and it documents none of the 400/403/404/409... that clients do
get. This rewrites each operation's responses after FastAPI has generated the document."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

FAULT = {"type": "object", "title": "Fault", "required": ["faultcode", "faultstring"],
         "properties": {"faultcode": {"type": "string", "enum": ["Client", "Server"]},
                        "faultstring": {"type": "string"}, "debuginfo": {"type": ["string", "null"]}}}
# Routing errors (no such path, a NUL in the path) keep webob's shape, as Octavia's do.
ROUTING_ERROR = {"type": "object", "title": "RoutingError", "required": ["code", "title", "message"],
                 "properties": {"code": {"type": "string"}, "title": {"type": "string"},
                                "message": {"type": "string"}}}
# The Networking view's own not-found body, as Neutron's.
NEUTRON_ERROR = {"type": "object", "title": "NeutronError", "required": ["NeutronError"],
                 "properties": {"NeutronError": {"type": "object", "required": ["type", "message"],
                                                 "properties": {"type": {"type": "string"},
                                                                "message": {"type": "string"},
                                                                "detail": {"type": "string"}}}}}
NOT_ACCEPTABLE = {"type": "object", "title": "NotAcceptable", "required": ["errors"],
                  "properties": {"errors": {"type": "array", "items": {"type": "object"}}}}

_FAULT_REF = {"$ref": "#/components/schemas/Fault"}
_BODIES = {"Fault": FAULT, "RoutingError": ROUTING_ERROR, "NotAcceptable": NOT_ACCEPTABLE,
           "NeutronError": NEUTRON_ERROR}
# For a router's `responses=`: the Networking view answers 404 with NeutronError (or a routing error).
NEUTRON_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {
    "description": "Not found (Neutron's error body), or no such path (routing error)",
    "content": {"application/json": {"schema": {"anyOf": [{"$ref": "#/components/schemas/NeutronError"},
                                                          {"$ref": "#/components/schemas/RoutingError"}]}}}}}

# status → (description, schema); every operation can get these (the middleware answers 400 for a NUL in the
# query, 404 for one in the path, 406 and 413 before any route runs; policy is checked on reads too).
COMMON: dict[str, tuple[str, dict[str, Any]]] = {
    "400": ("Bad request (Octavia fault)", _FAULT_REF),
    "401": ("Unauthorized (keystone mode: no valid token)", {}),
    "403": ("Forbidden by policy, or over quota (Octavia fault)", _FAULT_REF),
    "404": ("Not found (Octavia fault), or no such path (routing error)",
            {"anyOf": [_FAULT_REF, {"$ref": "#/components/schemas/RoutingError"}]}),
    "406": ("Not acceptable: the caller does not accept JSON", {"$ref": "#/components/schemas/NotAcceptable"}),
    "413": ("Request body too large (Octavia fault)", _FAULT_REF),
    "500": ("Internal error (Octavia fault)", _FAULT_REF),
}
# Writes also take the load balancer's lock, reach the provider driver and the project lock.
WRITES: dict[str, tuple[str, dict[str, Any]]] = {
    "409": ("Conflict: the object or its load balancer is immutable or in use (Octavia fault)", _FAULT_REF),
    "501": ("The provider does not support the request (Octavia fault)", _FAULT_REF),
    "503": ("Project busy, try again (Octavia fault)", _FAULT_REF),
}
METHODS = ("get", "put", "post", "delete", "patch")


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace FastAPI's 422 by the error answers Ostia sends, in place."""
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            errors = COMMON | (WRITES if method != "get" else {})
            for status, (description, body) in errors.items():
                responses.setdefault(status, {"description": description,
                                              "content": {"application/json": {"schema": body}}})
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components.update(_BODIES)
    return schema


def install(app: FastAPI) -> None:
    """Post-process the document FastAPI generates (once; FastAPI caches it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            return document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
