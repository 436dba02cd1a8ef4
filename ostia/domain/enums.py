"""Statuses and kinds shared by the API, the worker and the drivers (wire spellings)."""

from enum import StrEnum


class ProvisioningStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PENDING_CREATE = "PENDING_CREATE"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_DELETE = "PENDING_DELETE"
    DELETED = "DELETED"
    ERROR = "ERROR"


PENDING_STATUSES = frozenset(
    {ProvisioningStatus.PENDING_CREATE, ProvisioningStatus.PENDING_UPDATE, ProvisioningStatus.PENDING_DELETE}
)


class OperatingStatus(StrEnum):
    ONLINE = "ONLINE"
    DRAINING = "DRAINING"
    OFFLINE = "OFFLINE"
    DEGRADED = "DEGRADED"
    ERROR = "ERROR"
    NO_MONITOR = "NO_MONITOR"


class AmphoraStatus(StrEnum):
    BOOTING = "BOOTING"
    ALLOCATED = "ALLOCATED"
    READY = "READY"
    PENDING_CREATE = "PENDING_CREATE"
    PENDING_DELETE = "PENDING_DELETE"
    DELETED = "DELETED"
    ERROR = "ERROR"
    FAILOVER_STOPPED = "FAILOVER_STOPPED"


class AmphoraRole(StrEnum):
    MASTER = "MASTER"
    BACKUP = "BACKUP"
    STANDALONE = "STANDALONE"


class Topology(StrEnum):
    SINGLE = "SINGLE"
    ACTIVE_STANDBY = "ACTIVE_STANDBY"


class ListenerProtocol(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TCP = "TCP"
    TERMINATED_HTTPS = "TERMINATED_HTTPS"
    UDP = "UDP"
    SCTP = "SCTP"
    PROMETHEUS = "PROMETHEUS"


class PoolProtocol(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    PROXY = "PROXY"
    PROXYV2 = "PROXYV2"
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


class LbAlgorithm(StrEnum):
    ROUND_ROBIN = "ROUND_ROBIN"
    LEAST_CONNECTIONS = "LEAST_CONNECTIONS"
    SOURCE_IP = "SOURCE_IP"
    SOURCE_IP_PORT = "SOURCE_IP_PORT"


class SessionPersistenceType(StrEnum):
    SOURCE_IP = "SOURCE_IP"
    HTTP_COOKIE = "HTTP_COOKIE"
    APP_COOKIE = "APP_COOKIE"


class HealthMonitorType(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    PING = "PING"
    TCP = "TCP"
    TLS_HELLO = "TLS-HELLO"
    UDP_CONNECT = "UDP-CONNECT"
    SCTP = "SCTP"


class HttpMethod(StrEnum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"
    TRACE = "TRACE"
    OPTIONS = "OPTIONS"
    CONNECT = "CONNECT"
    PATCH = "PATCH"


class L7PolicyAction(StrEnum):
    REDIRECT_TO_POOL = "REDIRECT_TO_POOL"
    REDIRECT_TO_URL = "REDIRECT_TO_URL"
    REDIRECT_PREFIX = "REDIRECT_PREFIX"
    REJECT = "REJECT"


class L7RuleType(StrEnum):
    HOST_NAME = "HOST_NAME"
    PATH = "PATH"
    FILE_TYPE = "FILE_TYPE"
    HEADER = "HEADER"
    COOKIE = "COOKIE"
    SSL_CONN_HAS_CERT = "SSL_CONN_HAS_CERT"
    SSL_VERIFY_RESULT = "SSL_VERIFY_RESULT"
    SSL_DN_FIELD = "SSL_DN_FIELD"


class L7RuleCompareType(StrEnum):
    REGEX = "REGEX"
    STARTS_WITH = "STARTS_WITH"
    ENDS_WITH = "ENDS_WITH"
    CONTAINS = "CONTAINS"
    EQUAL_TO = "EQUAL_TO"


class ClientAuthentication(StrEnum):
    NONE = "NONE"
    OPTIONAL = "OPTIONAL"
    MANDATORY = "MANDATORY"


class JobState(StrEnum):
    PENDING = "PENDING"  # committed, not yet claimed
    RUNNING = "RUNNING"  # claimed by a worker holding a lease
    DONE = "DONE"
    REVERTED = "REVERTED"  # the flow failed and was reverted: objects are ERROR


class VnicType(StrEnum):
    NORMAL = "normal"
    DIRECT = "direct"
