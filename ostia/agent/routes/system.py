"""Version discovery, /info, /details, the agent's own certificate and configuration file."""

from __future__ import annotations

import re
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends

from ostia.agent import system
from ostia.agent.app import API_VERSION, Agent, get_agent
from ostia.agent.errors import AgentError
from ostia.agent.routes._common import ok, raw_body
from ostia.files import write_private

router = APIRouter()
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----\r?\n?", re.DOTALL)


@router.get("/")
def version() -> dict[str, str]:
    return {"api_version": API_VERSION}


@router.get("/1.0/info")
def info(agent: Agent = Depends(get_agent)) -> dict[str, Any]:
    s = agent.settings
    return {"hostname": system.hostname(), "haproxy_version": agent.haproxy.version(), "api_version": API_VERSION,
            "keepalived_version": system.keepalived_version(s.keepalived_cmd), "amphora_id": s.amphora_id,
            "base_path": str(s.base_path), "cert_path": str(s.cert_path),
            "network_namespace": s.network_namespace, "haproxy_user": None, "topology": s.topology}


@router.get("/1.0/details")
def details(agent: Agent = Depends(get_agent)) -> dict[str, Any]:
    lb_ids = agent.haproxy.lb_ids()
    udp_ids = list(agent.udp.listener_ids()) if agent.udp is not None else []
    # Listener ids (the frontends of every applied haproxy.cfg, then UDP listeners), as Octavia's agent.
    listener_ids = sorted({lid for lb in lb_ids for lid in agent.haproxy.listeners(lb)} | set(udp_ids))
    return {"hostname": system.hostname(), "haproxy_version": agent.haproxy.version(),
            "api_version": API_VERSION, "active": True,
            "haproxy_count": sum(1 for lb in lb_ids if agent.haproxy.master_pid(lb) is not None),
            "cpu_count": system.cpu_count(), "cpu": system.cpu(), "memory": system.memory_kb(),
            "disk": system.disk(agent.settings.base_path), "load": system.load(), "packages": {},
            "keepalived_version": system.keepalived_version(agent.settings.keepalived_cmd),
            "topology": agent.settings.topology, "topology_status": "OK", "listeners": listener_ids}


@router.put("/1.0/certificate")
def put_server_certificate(body: bytes = Depends(raw_body), agent: Agent = Depends(get_agent)) -> Any:
    """Rotate the agent's server certificate: files first, then the live context (new handshakes only)."""
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(body)]
    keys = [b for b in blocks if b"PRIVATE KEY-----" in b.split(b"\n", 1)[0]]
    certs = [b for b in blocks if b.startswith(b"-----BEGIN CERTIFICATE-----")]
    if len(keys) != 1 or not certs:
        raise AgentError(400, "Invalid certificate", "expected one private key and at least one certificate")
    cert_pem, key_pem = b"".join(_ends_with_newline(c) for c in certs), _ends_with_newline(keys[0])
    s = agent.settings
    _openssl_accepts(s.base_path, "Invalid certificate", ssl.SSLContext.load_cert_chain, cert_pem, key_pem)
    if s.server_cert == s.server_key:
        write_private(s.server_cert, cert_pem + key_pem)
    else:
        write_private(s.server_key, key_pem)
        write_private(s.server_cert, cert_pem)
    if agent.tls is not None:
        agent.tls.reload()
    return ok(202)


@router.put("/1.0/ca_bundle")
def put_ca_bundle(body: bytes = Depends(raw_body), agent: Agent = Depends(get_agent)) -> Any:
    """Replace the CAs client certificates are accepted from (CA rotation: old + new, later new alone).

    Only new handshakes use it; the caller's own connection stays up. The file is what the agent loads at its
    next start too."""
    blocks = [_ends_with_newline(m.group(0)) for m in _PEM_BLOCK.finditer(body)]
    if not blocks or any(not b.startswith(b"-----BEGIN CERTIFICATE-----") for b in blocks):
        raise AgentError(400, "Invalid CA bundle", "expected one or more PEM certificates and nothing else")
    bundle, s = b"".join(blocks), agent.settings
    _openssl_accepts(s.base_path, "Invalid CA bundle", ssl.SSLContext.load_verify_locations, bundle)
    write_private(s.server_ca, bundle)
    if agent.tls is not None:
        agent.tls.reload()
    return ok(202)


@router.put("/1.0/config")
def put_config(body: bytes = Depends(raw_body), agent: Agent = Depends(get_agent)) -> Any:
    """Replace the agent's configuration file; it takes effect when the agent is next started."""
    path = agent.settings.config_file
    if path is None:
        raise AgentError(500, "Unable to update amphora-agent configuration.", "the agent has no config file")
    write_private(path, body)
    return ok(202)


def _openssl_accepts(base_path: Path, title: str, load: Callable[..., object], *pems: bytes) -> None:
    """400 `title` unless a TLS server context can `load` the PEM files (paths passed in order), staged in a
    temporary directory first so a bad upload never touches the live files."""
    with tempfile.TemporaryDirectory(dir=base_path) as tmp:
        paths = [Path(tmp) / f"{index}.pem" for index in range(len(pems))]
        for path, pem in zip(paths, pems, strict=True):
            write_private(path, pem)
        try:
            load(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), *paths)
        except ssl.SSLError as exc:
            raise AgentError(400, title, str(exc)) from None


def _ends_with_newline(block: bytes) -> bytes:
    return block if block.endswith(b"\n") else block + b"\n"
