"""Octavia's error bodies: the WSME fault for resource errors, webob-style bodies for routing errors."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ostia.api import openapi_errors
from ostia.domain import errors

LOG = logging.getLogger(__name__)

_REASONS = {
    "missing": "Mandatory field missing.",
    "string_type": "Value should be string",
    "int_parsing": "Value should be integer",
    "int_type": "Value should be integer",
    "int_from_float": "Value should be integer",
    "float_parsing": "Value should be a number",
    "float_type": "Value should be a number",
    "bool_parsing": "Value should be boolean",
    "bool_type": "Value should be boolean",
    "list_type": "Value should be a list",
    "dict_type": "Value should be an object",
    "model_type": "Value should be an object",
    "model_attributes_type": "Value should be an object",
    "json_invalid": "Invalid JSON",
}


INVALID_JSON = "Invalid JSON body: the request body could not be parsed."
# FastAPI's answer when the JSON parser itself fails (e.g. RecursionError on a body nested thousands deep).
BODY_PARSE_ERROR = "There was an error parsing the body"


def fault_body(message: str, status_code: int) -> dict[str, Any]:
    return {"faultcode": "Client" if status_code < 500 else "Server", "faultstring": message,
            "debuginfo": None}


def fault_response(exc: errors.OstiaError) -> JSONResponse:
    return JSONResponse(fault_body(exc.message, exc.status_code), status_code=exc.status_code)


def _reason(err: dict[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "greater_than_equal":
        return f"Value should be greater or equal to {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"Value should be lower or equal to {ctx.get('le')}"
    if kind in ("enum", "literal_error"):
        return f"Value should be one of: {ctx.get('expected', '')}".replace("'", "")
    # A max_length placed after a BeforeValidator (Str255) reports `too_long` even for strings.
    if kind == "string_too_long" or (kind == "too_long" and isinstance(err.get("input"), str)):
        return f"Value should have a maximum character requirement of {ctx.get('max_length')}"
    if kind == "string_too_short":
        return f"Value should have a minimum character requirement of {ctx.get('min_length')}"
    if kind == "too_long":
        return f"Value should have at most {ctx.get('max_length')} items"
    if kind == "value_error":
        msg = str(err.get("msg", ""))
        return msg.removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        return f"Value should match the pattern {ctx.get('pattern')}"
    return _REASONS.get(kind, str(err.get("msg", "Invalid value")))


def unknown_attributes(arg: str, names: list[str]) -> str:
    """WSME's message for attributes a type does not have (plural when there are several)."""
    noun = "attributes" if len(names) > 1 else "attribute"
    return f"Unknown {noun} for argument {arg}: {', '.join(names)}"


def validation_message(errs: list[dict[str, Any]], root: str | None = None) -> str:
    """The first error, worded as WSME would; unknown attributes are reported together."""
    extra = [e for e in errs if e["type"] == "extra_forbidden"]
    if extra:
        arg = root or next((str(p) for p in extra[0]["loc"] if isinstance(p, str) and p != "body"), "body")
        return unknown_attributes(arg, sorted({str(e["loc"][-1]) for e in extra}))
    err = errs[0]
    if err["type"] == "json_invalid":
        return INVALID_JSON
    loc = [p for p in err["loc"] if p != "body"]
    field = next((str(p) for p in reversed(loc) if isinstance(p, str)), "body")
    value = err.get("input")
    if err["type"] == "missing":
        value = None
    return f"Invalid input for field/attribute {field}. Value: '{value}'. {_reason(err)}"


def install(app: FastAPI) -> None:
    openapi_errors.install(app)  # the document names the answers these handlers give

    @app.exception_handler(errors.OstiaError)
    async def _ostia_error(_request: Request, exc: errors.OstiaError) -> JSONResponse:
        if exc.status_code >= 500:
            LOG.error("request failed: %s", exc.message)
        return fault_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = list(exc.errors())
        # Query/path parameter errors are 400 like every other input error.
        return JSONResponse(fault_body(validation_message(errs), 400), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:  # same answer as any unparsable body
            return JSONResponse(fault_body(INVALID_JSON, 400), status_code=400)
        titles = {404: "Not Found", 405: "Method Not Allowed", 413: "Request Entity Too Large"}
        title = titles.get(exc.status_code, str(exc.detail))
        body = {"code": f"{exc.status_code} {title}", "title": title,
                "message": str(exc.detail) if exc.detail != title else "The resource could not be found."}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        LOG.exception("unhandled error")
        return JSONResponse(fault_body("Internal Server Error", 500), status_code=500)
