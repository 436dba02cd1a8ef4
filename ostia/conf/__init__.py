"""oslo.config options, one module per section. `load()` builds a ConfigOpts; nothing reads a global."""

from __future__ import annotations

from oslo_config import cfg

from ostia.conf import (
    api_settings,
    certificates,
    compute_local,
    controller_worker,
    database,
    default,
    deploy,
    haproxy_amphora,
    health_manager,
    house_keeping,
    jobs,
    messaging,
    networking,
    quotas,
)

_SECTIONS = (default, api_settings, database, controller_worker, jobs, networking, quotas, certificates,
             haproxy_amphora, compute_local, house_keeping, health_manager, deploy)


def new_conf() -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    for section in _SECTIONS:
        section.register_opts(conf)
    messaging.register_opts(conf)  # oslo.messaging's own groups ([DEFAULT] transport_url among them)
    return conf


def load(config_files: list[str] | None = None, overrides: dict[str, dict[str, object]] | None = None,
         ) -> cfg.ConfigOpts:
    """Parse `config_files` (none needed for `ostia up`) and apply `{section: {opt: value}}` overrides."""
    conf = new_conf()
    conf([], project="ostia", default_config_files=config_files or [], default_config_dirs=[])
    for group, values in (overrides or {}).items():
        for name, value in values.items():
            conf.set_override(name, value, group=None if group == "DEFAULT" else group)
    return conf


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [(s.GROUP, list(s.OPTS)) for s in _SECTIONS] + messaging.list_opts()
