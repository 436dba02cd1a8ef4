"""A minimal read-only Identity view for single-endpoint noauth mode.

With `openstack --os-auth-type none --os-endpoint <ostia>`, python-octaviaclient resolves every `<project>`
argument (`quota set/unset/reset`, `create --project`) through keystoneclient against that same endpoint:
`GET /projects/<arg>`, then `GET /projects?name=<arg>`. noauth has no project registry, so any name or id
names itself (as `openstack` does when Keystone forbids the look-up). In keystone mode the clients talk to
the real Keystone from the catalog, and these paths are not served.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ostia.api.routes.deps import services
from ostia.api.routes.retrying import RetryingRoute

router = APIRouter(route_class=RetryingRoute)


def _noauth(request: Request) -> bool:
    return bool(services(request).conf.api_settings.auth_strategy != "keystone")


def _project(project: str) -> dict[str, Any]:
    return {"id": project, "name": project, "domain_id": "default", "enabled": True, "description": "",
            "is_domain": False, "parent_id": "default", "tags": [], "links": {"self": None}}


def _not_found() -> JSONResponse:
    return JSONResponse({"error": {"code": 404, "title": "Not Found",
                                   "message": "The resource could not be found."}}, status_code=404)


@router.get("/projects", response_model=None)
@router.get("/v3/projects", response_model=None)
def list_projects(request: Request) -> dict[str, Any] | JSONResponse:
    if not _noauth(request):
        return _not_found()
    name = request.query_params.get("name") or request.query_params.get("id")
    return {"projects": [_project(name)] if name else [], "links": {"self": None, "next": None}}


@router.get("/projects/{project}", response_model=None)
@router.get("/v3/projects/{project}", response_model=None)
def get_project(request: Request, project: str) -> dict[str, Any] | JSONResponse:
    return {"project": _project(project)} if _noauth(request) else _not_found()
