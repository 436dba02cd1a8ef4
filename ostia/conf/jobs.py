from oslo_config import cfg

GROUP = "jobs"
OPTS = [
    cfg.IntOpt("lease_seconds", default=30, min=2,
               help="A running job whose worker has not renewed its lease for this long is recovered."),
    cfg.FloatOpt("sweep_interval", default=5.0,
                 help="Seconds between recovery sweeps for expired leases and undispatched jobs."),
    cfg.IntOpt("max_attempts", default=3, min=1,
               help="Runs of one job before recovery reverts it instead of resuming it."),
    cfg.StrOpt("topic", default="ostia-worker", help="oslo.messaging topic the workers listen on."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
