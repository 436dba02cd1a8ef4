"""HAProxy peers of an ACTIVE_STANDBY load balancer (internals §6.1): names shared by renderer and agent.

Both amphorae list each other in a `peers` section so stick tables (SOURCE_IP and APP_COOKIE persistence) are
pushed to the standby and survive a VRRP failover. Each HAProxy must be started with `-L <its own peer name>`
to know which entry of the section it is; the controller renders the names and the agent passes its own.
"""

from __future__ import annotations

import base64
import hashlib

PEER_PORT = 1025  # Octavia's HAPROXY_BASE_PEER_PORT, on each amphora's VRRP address


def peer_name(amphora_id: str) -> str:
    """Octavia's name for an amphora in `peer` lines and `-L`: base64 (altchars `_-`) of the SHA-1 of its id,
    `=` padding dropped, a leading `-` made `x` (HAProxy would read it as an option; haproxy issue 644).
    Hashed because HAProxy limits peer name length; kept identical so mixed fleets agree on names."""
    digest = hashlib.sha1(amphora_id.encode(), usedforsecurity=False).digest()
    encoded = base64.b64encode(digest, altchars=b"_-").decode().rstrip("=")
    return "x" + encoded[1:] if encoded.startswith("-") else encoded


def peers_section(load_balancer_id: str) -> str:
    """`<lb_id without dashes>_peers`, the section and the `peers` argument of every stick-table."""
    return load_balancer_id.replace("-", "") + "_peers"
