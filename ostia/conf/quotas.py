from oslo_config import cfg

GROUP = "quotas"
OPTS = [
    cfg.IntOpt(f"default_{name}_quota", default=-1, min=-1, max=2000000000,
               help=f"Default {name.replace('_', ' ')} quota per project; -1 is unlimited.")
    for name in ("load_balancer", "listener", "member", "pool", "health_monitor", "l7policy", "l7rule")
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
