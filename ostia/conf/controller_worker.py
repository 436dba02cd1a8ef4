from oslo_config import cfg

GROUP = "controller_worker"
OPTS = [
    cfg.StrOpt("compute_driver", default="local",
               help="Where amphorae run: local (agent daemons on this machine) or noop."),
    cfg.StrOpt("network_driver", default="loopback",
               help="VIP and member plumbing: loopback (127.x, no root), netns (root, namespaces) or noop."),
    cfg.StrOpt("amphora_driver", default="agent",
               help="How the controller talks to amphorae: agent (mTLS REST) or noop."),
    cfg.StrOpt("loadbalancer_topology", default="SINGLE", choices=["SINGLE", "ACTIVE_STANDBY"]),
    cfg.IntOpt("workers", default=4, min=1, help="Flows run at once by one worker process."),
    cfg.FloatOpt("noop_task_delay", default=0.0, min=0.0,
                 help="Testing aid: seconds each noop driver call sleeps, to hold flows mid-way."),
    cfg.StrOpt("metrics_bind", default="",
               help="host:port of the /metrics listener of `ostia worker` (flow durations); empty: none."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
