"""`ostia agent --config-file <amphora_dir>/agent.conf`: the amphora agent as a foreground daemon.

config → settings → mutual-TLS server context → FastAPI app → uvicorn. The compute driver detaches the
process and redirects its output; HAProxy/keepalived/nginx it started keep running when it exits (SIGTERM,
or SIGKILL) and the next agent adopts them through their pid files.
"""

from __future__ import annotations

import logging
import sys

import uvicorn
from oslo_config import cfg

from ostia.agent.app import Agent, create_app
from ostia.agent.keepalived import release_stale_vips
from ostia.agent.settings import AgentSettings
from ostia.conf import amphora_agent
from ostia.drivers.certificates.tls import ReloadableServerContext

LOG = logging.getLogger(__name__)


def run(conf_files: list[str]) -> int:
    try:
        conf = amphora_agent.load(conf_files)
    except cfg.Error as exc:  # a missing or incomplete agent.conf: say which option, no traceback
        print(f"ostia agent: {exc}", file=sys.stderr)
        return 2
    settings = AgentSettings.from_conf(conf, conf_files[-1] if conf_files else None)
    # uvicorn keeps one context for the process's life; it hands each handshake to the latest one, which
    # PUT /1.0/certificate and PUT /1.0/ca_bundle replace. Client certificates from a trusted CA are required.
    tls = ReloadableServerContext(settings.server_cert, settings.server_key, settings.server_ca)
    agent = Agent(settings, tls)
    # ACTIVE_STANDBY: a keepalived killed with this amphora's last agent may have left the VIP on eth1.
    release_stale_vips(settings, agent.keepalived, agent.interfaces)
    app = create_app(agent)
    config = uvicorn.Config(app, host=settings.bind_host, port=settings.bind_port, lifespan="on",
                            access_log=False, log_config=None, timeout_keep_alive=30,
                            # An idle TLS keep-alive connection waits for the peer's close_notify on shutdown;
                            # bound that so SIGTERM ends the agent in seconds.
                            timeout_graceful_shutdown=3)
    config.load()
    config.ssl = tls.base  # uvicorn only builds contexts from file paths; hand it ours (used by create_server)
    LOG.info("amp=%s agent on https://%s:%s (base %s, namespace %r)", settings.amphora_id, settings.bind_host,
             settings.bind_port, settings.base_path, settings.network_namespace)
    uvicorn.Server(config).run()  # the app's lifespan writes and removes the pid file
    return 0
