from oslo_config import cfg

GROUP = None
OPTS = [
    cfg.StrOpt("state_dir", default=".state",
               help="Directory holding the SQLite database, certificates and amphora state of `ostia up`."),
    cfg.StrOpt("transport_url", secret=True,
               help="oslo.messaging transport (e.g. rabbit://guest:guest@127.0.0.1:5672/). "
                    "Unset: jobs go to an in-process queue (all-in-one only)."),
    cfg.StrOpt("host", default="", help="Name of this controller host; defaults to the hostname."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS)
