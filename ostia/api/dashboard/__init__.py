"""The web dashboard at /dashboard: static ES modules shipped in the package, calling the v2 API from the browser.

Nothing is rendered on the server: the pages fetch the same v2 API any client uses, with the caller's
X-Project-Id (noauth) or X-Auth-Token (keystone). The only server-side piece is `/dashboard/config`, which
tells the page which of the two log-in forms to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

PREFIX = "/dashboard"
STATIC = Path(__file__).with_name("static")


def install(app: FastAPI, auth_strategy: str) -> None:
    def config() -> dict[str, Any]:
        return {"auth_strategy": auth_strategy, "api_version": "v2"}

    def to_index() -> RedirectResponse:
        return RedirectResponse(PREFIX + "/", status_code=307)

    # Routes before the mount: the mount would otherwise answer both paths (404 / no trailing slash).
    app.add_api_route(PREFIX + "/config", config, methods=["GET"], include_in_schema=False)
    app.add_api_route(PREFIX, to_index, methods=["GET"], include_in_schema=False)
    app.mount(PREFIX, StaticFiles(directory=STATIC, html=True), name="dashboard")


def is_dashboard_path(path: str) -> bool:
    """Static pages and their config: public in keystone mode (the data behind them is not) and browser-served."""
    return path == PREFIX or path.startswith(PREFIX + "/")
