"""Desired state of one UDP listener as the amphora agent serves it (nginx stream proxy + agent health checks).

Octavia serves UDP listeners with one keepalived/LVS process per listener (internals §6.3). This machine has no
IPVS, so Ostia runs one nginx (stream module) per UDP listener instead and the agent health-checks the members
itself. `UdpListenerSpec` is what the controller builds from its rows (ostia/db/to_spec_udp.py), sends to the
agent as JSON (`to_dict()`), and what the agent reads back (`from_dict()`) and renders
(ostia/render/nginx.py). `from_dict` checks shapes and value ranges, so the agent can answer 400 for a bad body
instead of failing later; whether nginx accepts the rendered file is still `nginx -t`'s call.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass
from typing import Any

from ostia.domain.enums import HealthMonitorType, HttpMethod, LbAlgorithm, SessionPersistenceType
from ostia.domain.errors import BadRequest

# Object ids become nginx upstream names, file names and comments: keep them to plain id characters.
_ID = re.compile(r"\A[A-Za-z0-9_.-]{1,64}\Z")
_CODES = re.compile(r"\A\d{3}(\s*,\s*\d{3})*\Z|\A\d{3}-\d{3}\Z")
_URL_PATH = re.compile(r"\A/[^\s\x00-\x1f\x7f]*\Z")
_HOST = re.compile(r"\A[A-Za-z0-9.-]{1,255}\Z")

UDP_ALGORITHMS = frozenset({LbAlgorithm.ROUND_ROBIN, LbAlgorithm.LEAST_CONNECTIONS, LbAlgorithm.SOURCE_IP})
# What Octavia lets a UDP pool have (API §3.2) plus PING, which costs nothing to support on the agent.
UDP_MONITOR_TYPES = frozenset({HealthMonitorType.UDP_CONNECT, HealthMonitorType.SCTP, HealthMonitorType.TCP,
                               HealthMonitorType.HTTP, HealthMonitorType.PING})
DEFAULT_PERSISTENCE_TIMEOUT = 360  # seconds, Octavia's documented default


class InvalidUdpSpec(BadRequest):
    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"Invalid UDP listener {where}: {why}")


@dataclass(frozen=True)
class UdpMemberSpec:
    id: str
    address: str
    protocol_port: int
    weight: int = 1
    enabled: bool = True  # admin_state_up
    backup: bool = False
    monitor_address: str | None = None
    monitor_port: int | None = None

    @property
    def check_address(self) -> str:
        return self.monitor_address or self.address

    @property
    def check_port(self) -> int:
        return self.monitor_port or self.protocol_port


@dataclass(frozen=True)
class UdpHealthMonitorSpec:
    type: str  # one of UDP_MONITOR_TYPES
    delay: int  # seconds between checks
    timeout: int  # seconds one check may take
    max_retries: int  # rise: successes for a DOWN member to come back
    max_retries_down: int = 3  # fall: failures for an UP member to go down
    http_method: str | None = None
    url_path: str | None = None
    expected_codes: str | None = None
    domain_name: str | None = None


@dataclass(frozen=True)
class UdpSessionPersistenceSpec:
    type: str = SessionPersistenceType.SOURCE_IP  # the only type UDP pools accept
    persistence_timeout: int = DEFAULT_PERSISTENCE_TIMEOUT
    persistence_granularity: str | None = None  # netmask, e.g. "255.255.255.0"; None: whole address


@dataclass(frozen=True)
class UdpListenerSpec:
    id: str
    protocol_port: int
    vip_addresses: tuple[str, ...]
    lb_algorithm: str
    connection_limit: int = -1  # -1 (or 0): unlimited
    session_persistence: UdpSessionPersistenceSpec | None = None
    members: tuple[UdpMemberSpec, ...] = ()
    health_monitor: UdpHealthMonitorSpec | None = None
    pool_id: str | None = None
    # Clients allowed in (Octavia enforces the listener's allowed_cidrs for UDP too); empty: everyone.
    allowed_cidrs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["vip_addresses"] = list(self.vip_addresses)
        data["allowed_cidrs"] = list(self.allowed_cidrs)
        data["members"] = [asdict(m) for m in self.members]
        return data

    @classmethod
    def from_dict(cls, data: object) -> UdpListenerSpec:
        body = _mapping(data, "body")
        listener_id = _id(body.get("id"), "id")
        vips = body.get("vip_addresses")
        if not isinstance(vips, list) or not vips:
            raise InvalidUdpSpec("vip_addresses", "a non-empty list of IP addresses is required")
        algorithm = body.get("lb_algorithm")
        if algorithm not in UDP_ALGORITHMS:
            raise InvalidUdpSpec("lb_algorithm", f"{algorithm!r} is not one of {sorted(UDP_ALGORITHMS)}")
        members = body.get("members", [])
        if not isinstance(members, list):
            raise InvalidUdpSpec("members", "must be a list")
        parsed = tuple(_member(m, i) for i, m in enumerate(members))
        if len({m.id for m in parsed}) != len(parsed):
            raise InvalidUdpSpec("members", "member ids must be unique")
        pool_id = body.get("pool_id")
        cidrs = body.get("allowed_cidrs", [])
        if not isinstance(cidrs, list):
            raise InvalidUdpSpec("allowed_cidrs", "must be a list")
        return cls(
            id=listener_id,
            protocol_port=_port(body.get("protocol_port"), "protocol_port"),
            vip_addresses=tuple(_ip(v, "vip_addresses") for v in vips),
            lb_algorithm=str(algorithm),
            connection_limit=_int(body.get("connection_limit", -1), "connection_limit", -1, 2**31 - 1),
            session_persistence=_persistence(body.get("session_persistence")),
            members=parsed,
            health_monitor=_monitor(body.get("health_monitor")),
            pool_id=None if pool_id is None else _id(pool_id, "pool_id"),
            allowed_cidrs=tuple(_cidr(c, "allowed_cidrs") for c in cidrs),
        )


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID.match(value))


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidUdpSpec(where, "must be a JSON object")
    return value


def _int(value: object, where: str, low: int, high: int) -> int:
    # bool is an int in Python; JSON true must not pass for 1.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidUdpSpec(where, f"{value!r} is not an integer in {low}..{high}")
    return value


def _port(value: object, where: str) -> int:
    return _int(value, where, 1, 65535)


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidUdpSpec(where, f"{value!r} is not a boolean")
    return value


def _id(value: object, where: str) -> str:
    if not is_valid_id(value):
        raise InvalidUdpSpec(where, f"{value!r} is not an id (letters, digits, '_', '.', '-')")
    assert isinstance(value, str)
    return value


def _ip(value: object, where: str) -> str:
    try:
        return str(ipaddress.ip_address(value if isinstance(value, str) else ""))
    except ValueError:
        raise InvalidUdpSpec(where, f"{value!r} is not an IP address") from None


def _cidr(value: object, where: str) -> str:
    try:
        return str(ipaddress.ip_network(value if isinstance(value, str) else "", strict=False))
    except ValueError:
        raise InvalidUdpSpec(where, f"{value!r} is not a CIDR") from None


def _member(value: object, index: int) -> UdpMemberSpec:
    m = _mapping(value, f"members[{index}]")
    where = f"members[{index}]"
    monitor_address = m.get("monitor_address")
    monitor_port = m.get("monitor_port")
    return UdpMemberSpec(
        id=_id(m.get("id"), f"{where}.id"),
        address=_ip(m.get("address"), f"{where}.address"),
        protocol_port=_port(m.get("protocol_port"), f"{where}.protocol_port"),
        weight=_int(m.get("weight", 1), f"{where}.weight", 0, 256),
        enabled=_bool(m.get("enabled", True), f"{where}.enabled"),
        backup=_bool(m.get("backup", False), f"{where}.backup"),
        monitor_address=None if monitor_address is None else _ip(monitor_address, f"{where}.monitor_address"),
        monitor_port=None if monitor_port is None else _port(monitor_port, f"{where}.monitor_port"),
    )


def _persistence(value: object) -> UdpSessionPersistenceSpec | None:
    if value is None:
        return None
    sp = _mapping(value, "session_persistence")
    if sp.get("type", SessionPersistenceType.SOURCE_IP) != SessionPersistenceType.SOURCE_IP:
        raise InvalidUdpSpec("session_persistence.type", "only SOURCE_IP is supported for UDP")
    granularity = sp.get("persistence_granularity")
    if granularity is not None:
        try:
            ipaddress.ip_network(f"0.0.0.0/{granularity}" if isinstance(granularity, str) else "")
        except ValueError:
            try:
                ipaddress.ip_network(f"::/{granularity}" if isinstance(granularity, str) else "")
            except ValueError:
                raise InvalidUdpSpec("session_persistence.persistence_granularity",
                                     f"{granularity!r} is not a netmask") from None
    return UdpSessionPersistenceSpec(
        persistence_timeout=_int(sp.get("persistence_timeout", DEFAULT_PERSISTENCE_TIMEOUT),
                                 "session_persistence.persistence_timeout", 0, 2**31 - 1),
        persistence_granularity=granularity)


def _monitor(value: object) -> UdpHealthMonitorSpec | None:
    if value is None:
        return None
    hm = _mapping(value, "health_monitor")
    kind = hm.get("type")
    if kind not in UDP_MONITOR_TYPES:
        raise InvalidUdpSpec("health_monitor.type", f"{kind!r} is not one of {sorted(UDP_MONITOR_TYPES)}")
    method = hm.get("http_method")
    if method is not None and method not in HttpMethod.__members__:
        raise InvalidUdpSpec("health_monitor.http_method", f"{method!r} is not an HTTP method")
    url_path = hm.get("url_path")
    if url_path is not None and not (isinstance(url_path, str) and _URL_PATH.match(url_path)):
        raise InvalidUdpSpec("health_monitor.url_path", f"{url_path!r} is not a URL path")
    codes = hm.get("expected_codes")
    if codes is not None and not (isinstance(codes, str) and _CODES.match(codes)):
        raise InvalidUdpSpec("health_monitor.expected_codes", f"{codes!r} is not 200, 200,202 or 200-204")
    domain = hm.get("domain_name")
    if domain is not None and not (isinstance(domain, str) and _HOST.match(domain)):
        raise InvalidUdpSpec("health_monitor.domain_name", f"{domain!r} is not a host name")
    return UdpHealthMonitorSpec(
        type=str(kind),
        delay=_int(hm.get("delay"), "health_monitor.delay", 0, 2**31 - 1),
        timeout=_int(hm.get("timeout"), "health_monitor.timeout", 0, 2**31 - 1),
        max_retries=_int(hm.get("max_retries"), "health_monitor.max_retries", 1, 10),
        max_retries_down=_int(hm.get("max_retries_down", 3), "health_monitor.max_retries_down", 1, 10),
        http_method=method, url_path=url_path, expected_codes=codes, domain_name=domain)


def expected_code_set(codes: str | None) -> frozenset[int]:
    """The status codes an HTTP monitor accepts: "200", "200, 202" or the range "200-204"."""
    if not codes:
        return frozenset({200})
    if "-" in codes:
        low, high = (int(c) for c in codes.split("-"))
        return frozenset(range(low, high + 1))
    return frozenset(int(c) for c in codes.split(","))
