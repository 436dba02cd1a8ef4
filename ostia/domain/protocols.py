"""Which pool protocols a listener protocol can forward to (§3.1).

Used for a listener's `default_pool_id`, a pool created with `listener_id` and an L7 policy's
`redirect_pool_id`. PROMETHEUS listeners take no pool at all.
"""

from __future__ import annotations

from ostia.domain.enums import ListenerProtocol, PoolProtocol
from ostia.domain.errors import ValidationFailure

L = ListenerProtocol
P = PoolProtocol

ALLOWED_POOL_PROTOCOLS: dict[ListenerProtocol, set[PoolProtocol]] = {
    L.HTTP: {P.HTTP, P.PROXY, P.PROXYV2},
    L.HTTPS: {P.HTTPS, P.PROXY, P.PROXYV2, P.TCP},
    L.TCP: {P.HTTP, P.HTTPS, P.PROXY, P.PROXYV2, P.TCP},
    L.TERMINATED_HTTPS: {P.HTTP, P.PROXY, P.PROXYV2},
    L.UDP: {P.UDP},
    L.SCTP: {P.SCTP},
    L.PROMETHEUS: set(),
}


def pool_protocol_allowed(listener_protocol: str, pool_protocol: str) -> bool:
    try:
        allowed = ALLOWED_POOL_PROTOCOLS[ListenerProtocol(listener_protocol)]
    except ValueError:
        return False
    return pool_protocol in allowed


def check_pool_protocol(listener_protocol: str, pool_protocol: str) -> None:
    """400 `Validation failure: The pool protocol '<p>' is invalid while the listener protocol is '<l>'.`"""
    if not pool_protocol_allowed(listener_protocol, pool_protocol):
        raise ValidationFailure(f"The pool protocol '{pool_protocol}' is invalid while the listener protocol "
                                f"is '{listener_protocol}'.")
