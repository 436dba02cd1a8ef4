"""Listener TLS files: <cert_path>/<lb_id>/<filename> (0600), read by HAProxy at start/reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ostia.agent.app import Agent, get_agent
from ostia.agent.errors import AgentError
from ostia.agent.files import is_cert_filename, md5_hex, unlink_quiet
from ostia.agent.routes._common import ok, raw_body, require_lb
from ostia.files import write_private

router = APIRouter()
_PATH = "/1.0/loadbalancer/{lb_id}/certificates/{filename}"


def _path(agent: Agent, lb_id: str, filename: str) -> Path:
    if not is_cert_filename(filename):
        raise AgentError(400, "Filename has wrong format")
    return agent.settings.cert_path / require_lb(lb_id, 400) / filename


@router.put(_PATH)
def put_certificate(lb_id: str, filename: str, body: bytes = Depends(raw_body),
                    agent: Agent = Depends(get_agent)) -> Any:
    path = _path(agent, lb_id, filename)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, body)
    return ok(200, etag_of=body)


@router.get(_PATH)
def get_certificate(lb_id: str, filename: str, agent: Agent = Depends(get_agent)) -> Any:
    try:
        data = _path(agent, lb_id, filename).read_bytes()
    except FileNotFoundError:
        raise AgentError(404, "Certificate Not Found") from None
    digest = md5_hex(data)  # never the content: it holds private keys
    return JSONResponse({"md5sum": digest}, headers={"ETag": digest})


@router.delete(_PATH)
def delete_certificate(lb_id: str, filename: str, agent: Agent = Depends(get_agent)) -> Any:
    unlink_quiet(_path(agent, lb_id, filename))
    return ok(200)
