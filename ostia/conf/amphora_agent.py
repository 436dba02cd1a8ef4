"""`[amphora_agent]`: the agent's own file (written by the compute driver next to the amphora's state).

`ostia agent --config-file <amphora_dir>/agent.conf` needs nothing else; `load()` builds a ConfigOpts holding
only this section so an amphora never depends on the controller's configuration.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "amphora_agent"
OPTS = [
    cfg.StrOpt("amphora_id", required=True, help="Id of the amphora this agent manages (its server cert's CN)."),
    cfg.StrOpt("base_path", required=True,
               help="This amphora's state directory: <base_path>/<lb_id>/haproxy.cfg, certs/, vrrp/ ..."),
    cfg.StrOpt("bind_host", default="127.0.0.1", help="Address the agent API listens on."),
    cfg.PortOpt("bind_port", default=9443, help="Port the agent API listens on (HTTPS, mutual TLS)."),
    cfg.StrOpt("agent_server_cert", required=True, help="PEM file with the agent's server certificate."),
    cfg.StrOpt("agent_server_key", required=True,
               help="PEM file with the server certificate's private key (may be the same file as the cert)."),
    cfg.StrOpt("agent_server_ca", required=True,
               help="CA certificate (PEM) that client certificates must chain to; callers without one are refused."),
    cfg.StrOpt("network_namespace", default="",
               help="Existing network namespace where HAProxy/keepalived run and the VIP/member NICs live; "
                    "empty: the host namespace (loopback driver, nothing to plug)."),
    cfg.StrOpt("loadbalancer_topology", default="SINGLE", choices=["SINGLE", "ACTIVE_STANDBY"],
               help="SINGLE: the VIP is configured on the VIP NIC here; ACTIVE_STANDBY: keepalived moves it."),
    cfg.StrOpt("pid_file", default="", help="Where the agent writes its pid. Default: <base_path>/agent.pid."),
    cfg.StrOpt("haproxy_cmd", default="haproxy", help="HAProxy executable."),
    cfg.StrOpt("keepalived_cmd", default="keepalived", help="keepalived executable."),
    cfg.IntOpt("agent_request_read_timeout", default=180, min=1,
               help="Seconds: upper bound of any command the agent runs for one request (haproxy -c, ip ...)."),
    # Heartbeats (ostia/agent/heartbeat_sender.py); the compute driver copies them from [health_manager].
    cfg.ListOpt("controller_ip_port_list", default=[],
                help="ip:port ([v6]:port) of every health manager; each beat goes to the next one in turn. "
                     "Empty: the agent sends no heartbeats."),
    cfg.StrOpt("heartbeat_key", secret=True, default="",
               help="HMAC key of heartbeats ([health_manager] heartbeat_key). Empty: no heartbeats."),
    cfg.FloatOpt("heartbeat_interval", default=1.0, min=0.05, help="Seconds between two heartbeats."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def load(config_files: list[str]) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    register_opts(conf)
    conf([], project="ostia", default_config_files=config_files, default_config_dirs=[])
    return conf


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, list(OPTS))]
