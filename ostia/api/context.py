"""Who is calling: built by the auth middleware, read by policy and actions."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class RequestContext:
    project_id: str | None
    user_id: str | None = None
    roles: tuple[str, ...] = ()
    is_admin: bool = False
    auth_token: str | None = None
    request_id: str = ""

    def credentials(self) -> dict[str, object]:
        return {"project_id": self.project_id, "user_id": self.user_id, "roles": list(self.roles),
                "is_admin": self.is_admin}


def from_noauth_headers(headers: Mapping[str, str], request_id: str = "", admin: bool = True) -> RequestContext:
    """noauth (§7.2): identity from request headers; every caller is an admin.

    `admin=False` is Octavia's "testing" strategy: the same headers, but the caller is whoever X-Roles says
    and policies are enforced (as in keystone mode) — what functional tests of RBAC and quotas need.
    """
    get = headers.get
    project = get("x-project-id") or get("x-tenant-id") or get("x-tenant")
    roles = tuple(r.strip() for r in (get("x-roles") or "").split(",") if r.strip())
    return RequestContext(project_id=project or None, user_id=get("x-user-id") or get("x-user"), roles=roles,
                          is_admin=admin, auth_token=get("x-auth-token"), request_id=request_id)

