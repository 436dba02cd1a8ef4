"""A small HTTP client of the Ostia (Octavia v2) API for the `ostia` commands that wait and show progress.

Options mirror the OpenStack clients': `--os-endpoint`/OS_ENDPOINT, `--os-auth-type`/OS_AUTH_TYPE (`none` or
`password`/`token`/anything keystoneauth loads), `--os-project-id`/OS_PROJECT_ID (noauth: the X-Project-Id
header). With OS_AUTH_URL and no auth type, keystone password auth is used (OS_USERNAME, OS_PASSWORD,
OS_PROJECT_NAME, OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME) and the endpoint comes from the catalog
(`load-balancer`) unless given.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

TIMEOUT = 30.0


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def add_options(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--os-endpoint", default=env("OS_ENDPOINT"), help="API URL (default: $OS_ENDPOINT, "
                        "else the catalog, else http://127.0.0.1:9876)")
    parser.add_argument("--os-auth-type", default=env("OS_AUTH_TYPE"),
                        help="none, or a keystoneauth plugin (default: password if OS_AUTH_URL is set)")
    parser.add_argument("--os-project-id", default=env("OS_PROJECT_ID"), help="project (noauth: X-Project-Id)")


def _keystone(args: argparse.Namespace) -> tuple[str, str]:
    """(token, endpoint) from keystoneauth with the OS_* variables."""
    from keystoneauth1 import loading, session

    auth_type = args.os_auth_type or "password"
    loader: Any = loading.get_plugin_loader(auth_type)
    names = {opt.dest: "OS_" + opt.dest.upper() for opt in loader.get_options()}
    values = {dest: os.environ[var] for dest, var in names.items() if var in os.environ}
    if args.os_project_id:
        values["project_id"] = args.os_project_id
    auth = loader.load_from_options(**{k: v for k, v in values.items() if k in names})
    sess = session.Session(auth=auth)
    token = sess.get_token()
    endpoint = args.os_endpoint or sess.get_endpoint(service_type="load-balancer",
                                                     interface=os.environ.get("OS_INTERFACE", "public"))
    if not token or not endpoint:
        raise ApiError(401, "keystone gave no token or no load-balancer endpoint")
    return str(token), str(endpoint)


class ApiClient:
    def __init__(self, args: argparse.Namespace) -> None:
        import httpx  # here: every `ostia` command builds the parser that registers these commands

        headers = {"Accept": "application/json"}
        keystone = args.os_auth_type not in (None, "none", "noauth") or (
            args.os_auth_type is None and "OS_AUTH_URL" in os.environ)
        if keystone:
            token, endpoint = _keystone(args)
            headers["X-Auth-Token"] = token
        else:
            endpoint = args.os_endpoint or "http://127.0.0.1:9876"
            if args.os_project_id:
                headers["X-Project-Id"] = args.os_project_id
        self.http = httpx.Client(base_url=endpoint.rstrip("/"), headers=headers, timeout=TIMEOUT)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        """The JSON answer of a call that must end in one of `ok`; ApiError otherwise (with the faultstring)."""
        resp = self.http.request(method, path, json=body)
        if resp.status_code not in ok:
            raise ApiError(resp.status_code, _fault(resp))
        return resp.json() if resp.content else None

    def get_or_none(self, path: str) -> Any:
        """GET, or None when the object is gone (404)."""
        try:
            return self.call("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise


def _fault(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    if isinstance(body, dict):
        for key in ("faultstring", "message", "description"):
            if isinstance(body.get(key), str):
                return str(body[key])
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(body)[:300]
