from oslo_config import cfg

GROUP = "local_compute"
OPTS = [
    cfg.StrOpt("amphora_dir",
               help="Directory holding one sub-directory (0700) per local amphora: its agent's configuration, "
                    "certificates, log and everything the agent runs. Default: <state_dir>/amphorae."),
    cfg.StrOpt("link_dir",
               help="Short directory (0700) with one symlink per amphora, the agents' base_path, so HAProxy's "
                    "UNIX socket paths stay within its 97-byte limit whatever amphora_dir is. Default: "
                    "/run/ostia-amphorae, or <tmp>/ostia-amphorae-<uid> when /run is not writable."),
    cfg.StrOpt("mgmt_cidr", default="127.3.0.0/16",
               help="Management network of local amphorae (Octavia's lb-mgmt-net): each agent listens on its "
                    "own address from it (the amphora's lb_network_ip), at [haproxy_amphora] bind_port. Must be "
                    "loopback so control traffic never leaves the host."),
    cfg.ListOpt("agent_command",
                help="Command starting an agent, before `--config-file <file>`. Default: the `ostia` script "
                     "beside the running Python with `agent`, else `<python> -m ostia.cli.main agent`."),
    cfg.StrOpt("haproxy_cmd", default="haproxy", help="HAProxy binary the agents run."),
    cfg.FloatOpt("stop_timeout", default=10.0, min=0.1,
                 help="Seconds an agent (or a process it ran) gets after SIGTERM before SIGKILL."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
