"""The FastAPI application: routers under /v2 and /v2.0, the version document, the Networking view."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from ostia.api import dashboard, faults
from ostia.api.middleware import OPENAPI_PATH, RequestMiddleware
from ostia.api.routes import (
    amphorae,
    availability_zones,
    failovers,
    flavors,
    health_monitors,
    l7policies,
    l7rules,
    listeners,
    load_balancers,
    members,
    networking,
    pools,
    providers,
    quotas,
    versions,
)
from ostia.api.services import ApiServices

RESOURCE_ROUTERS = (load_balancers, listeners, pools, members, health_monitors, l7policies, l7rules, quotas,
                    providers, flavors, availability_zones, amphorae, failovers)


def v2_router() -> APIRouter:
    router = APIRouter()
    for module in RESOURCE_ROUTERS:
        router.include_router(module.router)
    router.include_router(networking.router)
    return router


def create_app(svc: ApiServices) -> FastAPI:
    app = FastAPI(title="Ostia load-balancer API (Octavia v2 compatible)", version="2.30",
                  docs_url=None, redoc_url=None, openapi_url=OPENAPI_PATH)
    app.state.services = svc
    faults.install(app)
    app.include_router(versions.router)
    v2 = v2_router()
    app.include_router(v2, prefix="/v2")
    app.include_router(v2, prefix="/v2.0", include_in_schema=False)
    dashboard.install(app, svc.conf.api_settings.auth_strategy)
    noauth = svc.conf.api_settings.auth_strategy != "keystone"
    app.add_middleware(RequestMiddleware, max_body=svc.conf.api_settings.max_request_body_size, noauth=noauth,
                       noauth_admin=svc.conf.api_settings.auth_strategy == "noauth")
    return app
