from oslo_config import cfg

GROUP = "house_keeping"
OPTS = [
    cfg.IntOpt("spare_amphora_pool_size", default=1, min=0,
               help="Amphorae kept booted and idle (READY) so a SINGLE load balancer create only plugs and "
                    "configures one instead of waiting for its agent to start. 0 turns the pool off."),
    cfg.FloatOpt("spare_check_interval", default=2.0, min=0.1,
                 help="Seconds between checks that the spare pool is full."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
