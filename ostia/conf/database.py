from oslo_config import cfg

GROUP = "database"
OPTS = [
    cfg.StrOpt("connection", secret=True,
               help="SQLAlchemy URL. Default: SQLite (WAL) at <state_dir>/ostia.sqlite."),
    cfg.IntOpt("pool_size", default=10),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
