"""oslo.messaging's own options: [DEFAULT] transport_url and rpc_*, [oslo_messaging_rabbit], ...

They are registered with ours up front (not only when a transport is built) so config files and `--set`
overrides can name them, e.g. `--set oslo_messaging_rabbit.heartbeat_timeout_threshold=30`. oslo.messaging
registers equal copies again when it builds a transport; oslo.config accepts that.
"""

from __future__ import annotations

import importlib

from oslo_config import cfg

# Groups oslo.messaging reads on every cast/dispatch but registers only on the global cfg.CONF (and leaves
# out of list_opts()); with our own ConfigOpts they must be added by hand. Its ConfFixture does the same.
# (module, attribute, group); modules missing from older releases are skipped.
_GLOBAL_ONLY = (
    ("oslo_messaging._metrics.client", "oslo_messaging_metrics", "oslo_messaging_metrics"),
    ("oslo_messaging._tracing.client", "oslo_messaging_tracing", "oslo_messaging_tracing"),
)


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    from oslo_messaging import opts

    found: list[tuple[str | None, list[cfg.Opt]]] = [(g, list(o)) for g, o in opts.list_opts()]
    for module_name, attribute, group in _GLOBAL_ONLY:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        options = list(getattr(module, attribute, []))
        if options:
            found.append((group, options))
    return found


def register_opts(conf: cfg.ConfigOpts) -> None:
    for group, options in list_opts():
        conf.register_opts(options, group=group)
    # oslo.messaging defaults transport_url to "rabbit://" (a broker on localhost). Ours is unset: no
    # transport_url means `ostia up` keeps its jobs in-process, and `ostia api`/`worker` refuse to start.
    conf.set_default("transport_url", None)
