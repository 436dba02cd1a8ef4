from oslo_config import cfg, types

# `ostia deploy`: which controller services this machine runs, each as its own supervised process.
GROUP = "deploy"
OPTS = [
    cfg.ListOpt("api_bind_ports", item_type=types.Port(), default=[9876, 9877],
                help="One `ostia api` process per port (on [api_settings] bind_host); put them behind a load "
                     "balancer or VIP. Empty: no API on this machine."),
    cfg.IntOpt("workers", default=2, min=0, help="`ostia worker` processes on this machine."),
    cfg.ListOpt("health_managers", default=[],
                help="ip:port of each `ostia health-manager` this machine runs. Empty: one for every entry of "
                     "[health_manager] controller_ip_port_list (every health manager on this one machine)."),
    cfg.BoolOpt("housekeeping", default=True, help="Run `ostia housekeeping` here (one per deployment is enough)."),
    cfg.StrOpt("log_dir", default="", help="One <service>.log per process; default <state_dir>/logs."),
    cfg.StrOpt("run_dir", default="", help="One <service>.pid per process; default <state_dir>/run."),
    cfg.FloatOpt("restart_delay", default=1.0, min=0.0,
                 help="Seconds before a service that died is started again; doubled for each further death "
                      "in a row (as systemd Restart=always with RestartSec)."),
    cfg.FloatOpt("restart_delay_max", default=30.0, min=0.0, help="Cap of that back-off."),
    cfg.FloatOpt("stable_seconds", default=10.0, min=0.0,
                 help="A service that ran this long before dying is restarted after restart_delay again."),
    cfg.FloatOpt("stop_timeout", default=15.0, min=0.1,
                 help="Seconds a service gets to stop on SIGTERM before it is SIGKILLed."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
