from oslo_config import cfg

# transport_url (rabbit://guest:guest@127.0.0.1:5672/) is oslo.messaging's own option, registered by
# ostia.conf.messaging; unset, `ostia up` hands jobs to its in-process worker.
GROUP = None
OPTS = [
    cfg.StrOpt("state_dir", default=".state",
               help="Directory holding the SQLite database, certificates and amphora state of `ostia up`."),
    cfg.StrOpt("host", default="", help="Name of this controller host; defaults to the hostname."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS)
