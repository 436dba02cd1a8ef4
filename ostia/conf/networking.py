from oslo_config import cfg

GROUP = "networking"
OPTS = [
    cfg.ListOpt("reserved_ips", default=["169.254.169.254"], help="Addresses members may not use."),
    cfg.ListOpt("networks", default=["public:public-subnet:127.1.0.0/16", "private:private-subnet:127.2.0.0/16"],
                help="Networks the local network drivers own, as network-name:subnet-name:cidr."),
    cfg.BoolOpt("allow_vip_network_id", default=True),
    cfg.BoolOpt("allow_vip_subnet_id", default=True),
    cfg.BoolOpt("allow_vip_port_id", default=True),
    cfg.StrOpt("netns_prefix", default="ostia",
               help="netns driver: every namespace it creates is named <prefix>-fabric, <prefix>-amp-<id>, "
                    "<prefix>-host-<name>, so one machine can hold several independent fabrics."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
