"""Octavia's policy rules (names and defaults) on oslo.policy.

The building blocks combine each new default with its legacy `load-balancer_*` alternative, which is what
oslo.policy enforces for Octavia while `enforce_new_defaults` is off (§7.3).
"""

from __future__ import annotations

from oslo_config import cfg
from oslo_policy import policy

from ostia.api.context import RequestContext
from ostia.domain import errors

PREFIX = "os_load-balancer_api"
DEFAULT_POLICY_FILE = "policy.yaml"  # oslo.policy's default, also [api_settings] policy_file's

BASE_RULES = {
    "context_is_admin": "role:admin or role:load-balancer_admin",
    "load-balancer:owner": "project_id:%(project_id)s",
    "load-balancer:admin": "is_admin:True or role:admin or role:load-balancer_admin",
    "load-balancer:global_observer": "role:admin or role:load-balancer_global_observer",
    "load-balancer:member_and_owner":
        "(role:member or role:load-balancer_member) and rule:load-balancer:owner",
    "load-balancer:observer_and_owner":
        "(role:reader or role:load-balancer_observer) and rule:load-balancer:owner",
    "load-balancer:quota-admin": "role:admin or role:load-balancer_quota_admin",
    "load-balancer:read": "rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or "
                          "rule:load-balancer:member_and_owner or rule:load-balancer:admin",
    "load-balancer:read-global": "rule:load-balancer:global_observer or rule:load-balancer:admin",
    "load-balancer:write": "rule:load-balancer:member_and_owner or rule:load-balancer:admin",
    "load-balancer:read-quota": "rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or "
                                "rule:load-balancer:member_and_owner or rule:load-balancer:quota-admin or "
                                "rule:load-balancer:admin",
    "load-balancer:read-quota-global": "rule:load-balancer:global_observer or rule:load-balancer:quota-admin or "
                                       "rule:load-balancer:admin",
    "load-balancer:write-quota": "rule:load-balancer:quota-admin or rule:load-balancer:admin",
}

_CRUD = {"get_all": "read", "get_all-global": "read-global", "post": "write", "get_one": "read",
         "put": "write", "delete": "write"}
_ADMIN_CRUD = {"get_all": "admin", "post": "admin", "put": "admin", "get_one": "admin", "delete": "admin"}


def _resource_rules() -> dict[str, str]:
    rules: dict[str, str] = {}

    def add(resource: str, actions: dict[str, str]) -> None:
        for action, rule in actions.items():
            rules[f"{PREFIX}:{resource}:{action}"] = f"rule:load-balancer:{rule}"

    add("loadbalancer", {**_CRUD, "get_stats": "read", "get_status": "read", "put_failover": "admin",
                         "get_failover_timeline": "admin",  # Ostia's addition: amphora ids, internals
                         "post:vip_sg_ids": "write", "put:vip_sg_ids": "write"})
    add("listener", {**_CRUD, "get_stats": "read"})
    for resource in ("pool", "healthmonitor", "l7policy"):
        add(resource, dict(_CRUD))
    add("member", {k: v for k, v in _CRUD.items() if k != "get_all-global"})
    rules[f"{PREFIX}:member:get_all"] = "rule:load-balancer:read or role:service"
    add("l7rule", {k: v for k, v in _CRUD.items() if k != "get_all-global"})
    add("quota", {"get_all": "read-quota", "get_all-global": "read-quota-global", "get_one": "read-quota",
                  "put": "write-quota", "delete": "write-quota", "get_defaults": "read-quota"})
    add("provider", {"get_all": "read"})
    add("provider-flavor", {"get_all": "admin"})
    add("provider-availability-zone", {"get_all": "admin"})
    add("flavor", {"get_all": "read", "post": "admin", "put": "admin", "get_one": "read", "delete": "admin"})
    add("flavor-profile", dict(_ADMIN_CRUD))
    add("availability-zone", {"get_all": "read", "post": "admin", "put": "admin", "get_one": "read",
                              "delete": "admin"})
    add("availability-zone-profile", dict(_ADMIN_CRUD))
    add("amphora", {"get_all": "admin", "get_one": "admin", "delete": "admin", "put_config": "admin",
                    "put_failover": "admin", "get_stats": "admin"})
    return rules


DEFAULT_RULES = {**BASE_RULES, **_resource_rules()}


def sample_yaml() -> str:
    return "".join(f'#"{name}": "{rule}"\n' for name, rule in DEFAULT_RULES.items())


class Policy:
    def __init__(self, conf: cfg.ConfigOpts, enforce: bool) -> None:
        """`enforce` is False in noauth mode, where every caller is an admin anyway."""
        self.enforce_enabled = enforce
        # use_conf must stay on: without it oslo.policy never loads the registered defaults and refuses
        # everything. A relative policy_file is looked up in oslo.config's directories (beside ostia.conf).
        self._enforcer = policy.Enforcer(conf)  # also registers [oslo_policy]
        # Octavia's option is [oslo_policy] policy_file; [api_settings] policy_file is Ostia's own spelling,
        # honoured when only it was changed from the common default.
        if conf.oslo_policy.policy_file == DEFAULT_POLICY_FILE:
            self._enforcer.policy_file = conf.api_settings.policy_file
        self._enforcer.register_defaults([policy.RuleDefault(n, r) for n, r in DEFAULT_RULES.items()])

    def allowed(self, ctx: RequestContext, action: str, project_id: str | None) -> bool:
        if not self.enforce_enabled:
            return True
        target = {"project_id": project_id if project_id is not None else ctx.project_id}
        return bool(self._enforcer.enforce(f"{PREFIX}:{action}", target, ctx.credentials()))

    def authorize(self, ctx: RequestContext, action: str, project_id: str | None = None) -> None:
        if not self.allowed(ctx, action, project_id):
            raise errors.NotAuthorized()
