from oslo_config import cfg

# How the controller reaches amphora agents (Octavia's [haproxy_amphora] client options, local-sized defaults).
GROUP = "haproxy_amphora"
OPTS = [
    cfg.PortOpt("bind_port", default=9443, help="Port every amphora agent listens on."),
    cfg.FloatOpt("rest_request_conn_timeout", default=5.0, help="Seconds to open a connection to an agent."),
    cfg.FloatOpt("rest_request_read_timeout", default=60.0, help="Seconds to wait for an agent's answer."),
    cfg.FloatOpt("build_active_timeout", default=60.0,
                 help="Seconds a new amphora's agent has to answer before the build counts as failed."),
    cfg.FloatOpt("connection_retry_interval", default=0.05,
                 help="Seconds between attempts to reach an agent that is starting."),
    cfg.IntOpt("active_connection_max_retries", default=15,
               help="Attempts to reach a live agent before a call fails."),
    cfg.FloatOpt("active_connection_retry_interval", default=1.0),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
