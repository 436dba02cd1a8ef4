"""The agent's settings as a plain value, so the app and its helpers never read oslo.config themselves."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class AgentSettings:
    amphora_id: str
    base_path: Path
    server_cert: Path
    server_key: Path
    server_ca: Path
    network_namespace: str = ""  # "": host namespace
    topology: str = "SINGLE"
    haproxy_cmd: str = "haproxy"
    keepalived_cmd: str = "keepalived"
    command_timeout: float = 180.0
    config_file: Path | None = None  # the file PUT /1.0/config replaces
    bind_host: str = "127.0.0.1"
    bind_port: int = 9443
    pid_file: Path | None = None
    # Heartbeats: where (ip:port strings), signed with what, how often. No targets or no key: none sent.
    controller_ip_port_list: tuple[str, ...] = ()
    heartbeat_key: str = dataclasses.field(default="", repr=False)
    heartbeat_interval: float = 1.0

    @property
    def heartbeats_enabled(self) -> bool:
        return bool(self.controller_ip_port_list and self.heartbeat_key)

    @property
    def cert_path(self) -> Path:
        return self.base_path / "certs"

    @property
    def ping_wrapper(self) -> Path:
        return self.base_path / "ping-wrapper.sh"

    @property
    def plugged_file(self) -> Path:
        return self.base_path / "plugged_interfaces.json"

    @property
    def vrrp_path(self) -> Path:
        return self.base_path / "vrrp"

    @classmethod
    def from_conf(cls, conf: Any, config_file: str | None) -> AgentSettings:
        a = conf.amphora_agent
        base = Path(a.base_path).absolute()
        return cls(amphora_id=a.amphora_id, base_path=base, server_cert=Path(a.agent_server_cert),
                   server_key=Path(a.agent_server_key), server_ca=Path(a.agent_server_ca),
                   network_namespace=a.network_namespace or "", topology=a.loadbalancer_topology,
                   haproxy_cmd=a.haproxy_cmd, keepalived_cmd=a.keepalived_cmd,
                   command_timeout=float(a.agent_request_read_timeout),
                   config_file=Path(config_file) if config_file else None,
                   bind_host=a.bind_host, bind_port=a.bind_port,
                   pid_file=Path(a.pid_file) if a.pid_file else base / "agent.pid",
                   controller_ip_port_list=tuple(t.strip() for t in a.controller_ip_port_list if t.strip()),
                   heartbeat_key=a.heartbeat_key or "", heartbeat_interval=float(a.heartbeat_interval))
