from oslo_config import cfg

GROUP = "api_settings"
OPTS = [
    cfg.HostAddressOpt("bind_host", default="127.0.0.1", help="Address the API listens on."),
    cfg.PortOpt("bind_port", default=9876, help="Port the API listens on."),
    cfg.StrOpt("auth_strategy", default="noauth", choices=["noauth", "keystone", "testing"],
               help="noauth: project from X-Project-Id, every caller admin. keystone: keystonemiddleware."),
    cfg.StrOpt("noauth_default_project", default="default",
               help="noauth only: project of a load balancer created without X-Project-Id or project_id "
                    "(keystoneauth's `none` plugin sends neither). Empty: such creates get Octavia's 400."),
    cfg.IntOpt("pagination_max_limit", default=1000, min=1, help="Largest page a list call returns."),
    cfg.StrOpt("api_base_uri", help="Base URI for links in list responses; default: the request URL."),
    cfg.DictOpt("enabled_provider_drivers",
                default={"amphora": "The Octavia Amphora driver.",
                         "octavia": "Deprecated alias of the Octavia Amphora driver.",
                         "noop_driver": "The no-op driver."},
                help="Provider name → description."),
    cfg.StrOpt("default_provider_driver", default="amphora"),
    cfg.BoolOpt("allow_tls_terminated_listeners", default=True),
    cfg.BoolOpt("allow_ping_health_monitors", default=True),
    cfg.BoolOpt("allow_prometheus_listeners", default=True),
    cfg.IntOpt("udp_connect_min_interval_health_monitor", default=3, min=0,
               help="Smallest delay (s) of a UDP-CONNECT health monitor."),
    cfg.StrOpt("minimum_tls_version", choices=["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]),
    cfg.StrOpt("tls_cipher_prohibit_list", default="", help="Colon separated ciphers refused by the API."),
    cfg.IntOpt("max_request_body_size", default=114688, help="Larger bodies get 413."),
    cfg.StrOpt("policy_file", default="policy.yaml", help="oslo.policy overrides (optional)."),
    cfg.ListOpt("metrics_allowed_cidrs", default=["127.0.0.0/8", "::1/128"],
                help="Sources allowed to read /metrics (no token needed: scrapers have none); add the Prometheus "
                     "servers' networks. Empty: anyone who reaches the API port."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
