"""The heartbeat envelope, shared by the amphora agent (sender) and the health manager (receiver).

On the wire (internals §3.1): zlib-compressed (level 9) UTF-8 JSON followed by the HMAC-SHA256 of the compressed
bytes, keyed with `[health_manager] heartbeat_key`, as 64 lowercase hex characters. The message (version 3):

    {"id": <amphora id>, "seq": <int, +1 per beat>, "ver": 3,
     "listeners": {<listener id>: {"status": "OPEN"|"FULL"|"DOWN",
                                   "stats": {"tx": Δbytes out, "rx": Δbytes in, "conns": current,
                                             "totconns": Δconnections, "ereq": Δrequest errors}}},
     "pools": {"<pool id>:<listener id>": {"status": "UP"|"DOWN",
                                           "members": {<member id>: "UP"|"DOWN"|"DRAIN"|"MAINT"|"no check"},
                                           "member_stats": {<member id>: {"tx", "rx", "totconns", "econ",
                                                                          "eresp": Δ, "conns": current}}}},
                                           (member_stats: Ostia's addition, HAProxy pools only; for /metrics)
     "config_hash": <md5 of the haproxy.cfg applied> | null,   (Ostia's addition)
     "recv_time": ...}                                         (never sent: the receiver may add it)

Counters are deltas since the previous beat (the receiver adds them up), `conns` is absolute.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib
from typing import Any

VERSION = 3
DIGEST_HEX_LEN = 64
MAX_PACKET = 65535
# A decompression bomb must not cost the receiver more than a normal large heartbeat.
MAX_JSON = 4 * 1024 * 1024


# HAProxy counters are unsigned 64-bit: at most 20 decimal digits.
_MAX_COUNTER_DIGITS = 20


def counter(value: Any) -> int:
    """A stats value of a received beat as a non-negative count; 0 for anything that is not one.

    Ostia's agent sends ints, but HAProxy's `show stat` CSV gives its counters as decimal strings, and an agent
    forwarding them unconverted must not lose the traffic: "12" counts as 12. Negative numbers, bools,
    floats, blanks and other text are not HAProxy counters. The int case is checked first: this runs for
    every counter of every beat."""
    if type(value) is int:
        return value if value >= 0 else 0
    if type(value) is str and value.isascii() and value.isdigit() and len(value) <= _MAX_COUNTER_DIGITS:
        return int(value)
    return 0


class InvalidHeartbeat(Exception):
    """Undecodable, too large, or signed with another key."""


def _digest(key: str, payload: bytes) -> bytes:
    return hmac.new(key.encode(), payload, hashlib.sha256).hexdigest().encode()


def encode(message: dict[str, Any], key: str) -> bytes:
    payload = zlib.compress(json.dumps(message, separators=(",", ":")).encode(), 9)
    packet = payload + _digest(key, payload)
    if len(packet) > MAX_PACKET:
        raise ValueError(f"heartbeat of {len(packet)} bytes does not fit in one UDP datagram")
    return packet


def decode(packet: bytes, key: str) -> dict[str, Any]:
    """The message of a packet whose signature checks out; InvalidHeartbeat otherwise."""
    if len(packet) <= DIGEST_HEX_LEN:
        raise InvalidHeartbeat("packet too short")
    payload, digest = packet[:-DIGEST_HEX_LEN], packet[-DIGEST_HEX_LEN:]
    if not hmac.compare_digest(digest, _digest(key, payload)):
        raise InvalidHeartbeat("bad signature")
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(payload, MAX_JSON)
        if inflater.unconsumed_tail:
            raise InvalidHeartbeat("message too large")
        message = json.loads(raw)
    except (zlib.error, ValueError) as exc:
        raise InvalidHeartbeat(f"undecodable: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("id"), str) \
            or not isinstance(message.get("seq"), int):
        raise InvalidHeartbeat("not a heartbeat message")
    return message
