from oslo_config import cfg

GROUP = "house_keeping"
OPTS = [
    cfg.IntOpt("spare_amphora_pool_size", default=1, min=0,
               help="Amphorae kept booted and idle (READY) so a SINGLE load balancer create only plugs and "
                    "configures one instead of waiting for its agent to start. 0 turns the pool off."),
    cfg.FloatOpt("spare_check_interval", default=2.0, min=0.1,
                 help="Seconds between checks that the spare pool is full."),
    # Octavia's DB cleanup: DELETED rows stay (hidden from the API) until they are this old.
    cfg.FloatOpt("cleanup_interval", default=30.0, min=0.05,
                 help="Seconds between database clean-ups of expired DELETED amphorae and load balancers."),
    cfg.IntOpt("amphora_expiry_age", default=604800, min=0,
               help="Seconds a DELETED amphora (and its health row) is kept before it is removed (7 days)."),
    cfg.IntOpt("load_balancer_expiry_age", default=604800, min=0,
               help="Seconds a DELETED load balancer (and what still refers to it) is kept before it is "
                    "removed (7 days)."),
    cfg.IntOpt("cert_interval", default=3600, min=1,
               help="Seconds between certificate rotation runs (amphora server certificates close to expiry, "
                    "the controller's client certificate, finishing a CA rotation past its grace period)."),
    cfg.IntOpt("cert_expiry_buffer", default=1209600, min=0,
               help="Rotate an amphora's server certificate once it expires within this many seconds "
                    "(Octavia's default: 14 days)."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
