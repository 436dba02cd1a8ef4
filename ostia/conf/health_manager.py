from oslo_config import cfg

# The key has a fixed development default only so `ostia up` works with no file; production MUST set its own.
DEV_HEARTBEAT_KEY = "insecure-ostia-dev-heartbeat-key"

GROUP = "health_manager"
OPTS = [
    cfg.StrOpt("bind_ip", default="127.0.0.1", help="Address the health manager receives heartbeats on."),
    cfg.PortOpt("bind_port", default=5555),
    cfg.ListOpt("controller_ip_port_list", default=[],
                help="ip:port of every health manager, given to the amphorae; empty: bind_ip:bind_port."),
    cfg.StrOpt("heartbeat_key", secret=True, default=DEV_HEARTBEAT_KEY,
               help="HMAC key of heartbeats. The default is public: set your own in production."),
    cfg.FloatOpt("heartbeat_interval", default=1.0, min=0.05,
                 help="Seconds between heartbeats of one amphora (Octavia: 10)."),
    cfg.FloatOpt("heartbeat_timeout", default=5.0, min=0.1,
                 help="An amphora silent this long is failed over (Octavia: 60)."),
    cfg.FloatOpt("health_check_interval", default=1.0, min=0.05,
                 help="Seconds between scans for stale amphorae (Octavia: 3)."),
    cfg.IntOpt("failover_threads", default=10, min=1,
               help="Failovers one health manager runs at once."),
    cfg.FloatOpt("failover_threshold", default=0.5, min=0.0, max=1.0,
                 help="Circuit breaker: no automatic failover while more than this share of the amphorae is "
                      "stale at once (a controller-side outage, not amphora failures). 0 turns it off."),
    cfg.IntOpt("sock_rlimit", default=0, min=0, help="SO_RCVBUF of the heartbeat socket in bytes; 0: 8 MiB (beyond "
                    "net.core.rmem_max only as root)."),
    cfg.StrOpt("metrics_bind", default="",
               help="host:port of the /metrics listener of `ostia health-manager`; empty: none. (`ostia up` "
                    "serves its metrics on the API port.)"),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
