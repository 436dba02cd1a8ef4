"""L7 rules and policies as HAProxy ACLs and http-request/use_backend lines (internals §6.1, "L7 rules → ACLs").

Redirects use `http-request redirect` rather than the bare `redirect` directive so that REJECT and redirect
policies are evaluated in position order (HAProxy runs every `http-request` rule before any `redirect`).
`use_backend` is evaluated after all of them, as in Octavia.
"""

from __future__ import annotations

from dataclasses import dataclass

from ostia.domain.enums import L7PolicyAction, L7RuleCompareType, L7RuleType
from ostia.domain.l7 import DEFAULT_REDIRECT_HTTP_CODE, REDIRECT_HTTP_CODES, valid_redirect_url
from ostia.domain.spec import L7PolicySpec, L7RuleSpec
from ostia.render.quoting import Unsafe, digits, fetch_arg, logformat, quote

T = L7RuleType
C = L7RuleCompareType
A = L7PolicyAction

_MATCH: dict[str, str] = {C.REGEX: "-m reg", C.STARTS_WITH: "-m beg", C.ENDS_WITH: "-m end", C.CONTAINS: "-m sub",
          C.EQUAL_TO: "-m str"}


@dataclass(frozen=True)
class RenderedPolicy:
    acls: tuple[str, ...]  # "acl <rule_id> ..." bodies (without the leading "acl")
    action: str  # the http-request / use_backend line


def backend_name(pool_id: str, listener_id: str) -> str:
    return f"{pool_id}:{listener_id}"


def rule_acl(rule: L7RuleSpec) -> str:
    """`<rule_id> <fetch> <flags> -- <value>`; raises Unsafe for values that cannot be written."""
    match = _MATCH.get(rule.compare_type)
    if rule.type == T.SSL_CONN_HAS_CERT:
        return f"{rule.id} ssl_c_used"
    if rule.type == T.SSL_VERIFY_RESULT:
        return f"{rule.id} ssl_c_verify eq {digits(rule.value)}"
    if match is None:
        raise Unsafe(f"unknown compare type {rule.compare_type!r}")
    if rule.type == T.HOST_NAME:
        fetch, flags = "req.hdr(host)", f"-i {match}"
    elif rule.type == T.PATH:
        fetch, flags = "path", match
    elif rule.type == T.FILE_TYPE:
        # path_end already compares the end; `-m str` on it is haproxy issue 2567, so EQUAL_TO has no flag.
        fetch, flags = "path_end", "" if rule.compare_type == C.EQUAL_TO else match
    elif rule.type == T.HEADER:
        fetch, flags = f"req.hdr({fetch_arg(rule.key or '')})", match
    elif rule.type == T.COOKIE:
        fetch, flags = f"req.cook({fetch_arg(rule.key or '')})", match
    elif rule.type == T.SSL_DN_FIELD:
        fetch, flags = f"ssl_c_s_dn({fetch_arg(rule.key or '')})", match
    else:
        raise Unsafe(f"unknown rule type {rule.type!r}")
    # `--` ends the flags, so a value such as "-i" is a pattern and never a flag.
    return " ".join(x for x in (rule.id, quote(fetch), flags, "--", quote(rule.value)) if x)


def _redirect_code(code: int | None) -> int:
    return code if code in REDIRECT_HTTP_CODES else DEFAULT_REDIRECT_HTTP_CODE


def render_policy(policy: L7PolicySpec, listener_id: str) -> RenderedPolicy | None:
    """The ACLs and action of one policy, or None when it cannot be rendered safely (Octavia clears values that
    could inject config; a policy without its action or its rules must not be rendered at all)."""
    try:
        acls = tuple(rule_acl(r) for r in policy.rules)
    except Unsafe:
        return None
    if not acls:
        return None
    cond = "if " + " ".join(("!" if r.invert else "") + r.id for r in policy.rules)
    code = _redirect_code(policy.redirect_http_code)
    try:
        if policy.action == A.REJECT:
            action = f"http-request deny {cond}"
        elif policy.action == A.REDIRECT_TO_URL and policy.redirect_url and valid_redirect_url(policy.redirect_url):
            action = f"http-request redirect code {code} location {logformat(policy.redirect_url)} {cond}"
        elif (policy.action == A.REDIRECT_PREFIX and policy.redirect_prefix
              and valid_redirect_url(policy.redirect_prefix)):
            action = f"http-request redirect code {code} prefix {logformat(policy.redirect_prefix)} {cond}"
        elif policy.action == A.REDIRECT_TO_POOL and policy.redirect_pool_id:
            action = f"use_backend {backend_name(policy.redirect_pool_id, listener_id)} {cond}"
        else:
            return None
    except Unsafe:
        return None
    return RenderedPolicy(acls=acls, action=action)
