"""haproxy.cfg upload/download, start/stop/reload, and deleting a load balancer (or a UDP listener)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from ostia.agent.app import Agent, get_agent
from ostia.agent.errors import AgentError
from ostia.agent.files import is_safe_id, md5_hex
from ostia.agent.routes._common import ok, raw_body, require_lb

router = APIRouter()
_ACTIONS = ("start", "stop", "reload")


@router.put("/1.0/loadbalancer/{amphora_id}/{lb_id}/haproxy")
def put_haproxy_config(amphora_id: str, lb_id: str, body: bytes = Depends(raw_body),
                       agent: Agent = Depends(get_agent)) -> Any:
    if amphora_id != agent.settings.amphora_id:
        # A config meant for another amphora (stale address after a failover): refuse it loudly.
        raise AgentError(400, "Invalid amphora id", f"this is amphora {agent.settings.amphora_id}")
    agent.haproxy.put_config(require_lb(lb_id, 400), body)
    return ok(202, etag_of=body)


@router.get("/1.0/loadbalancer/{lb_id}/haproxy")
def get_haproxy_config(lb_id: str, agent: Agent = Depends(get_agent)) -> Any:
    try:
        data = agent.haproxy.config_path(require_lb(lb_id)).read_bytes()
    except FileNotFoundError:
        raise AgentError(404, "Loadbalancer Not Found") from None
    return PlainTextResponse(data, headers={"ETag": md5_hex(data)})


@router.put("/1.0/loadbalancer/{lb_id}/{action}")
def lb_action(lb_id: str, action: str, agent: Agent = Depends(get_agent)) -> Any:
    action = action.lower()
    if action not in _ACTIONS:
        raise AgentError(400, "Invalid Request", f"Unknown action: {action}")
    if agent.owns_udp(lb_id):
        # UDP listeners are applied (nginx started or reloaded) by their own upload route.
        return ok(202, f"UDP listener {lb_id} {action} is done by its upload")
    if not is_safe_id(lb_id) or not agent.haproxy.config_path(lb_id).is_file():
        raise AgentError(404, "Loadbalancer Not Found", f"no configuration for {lb_id}")
    manager = agent.haproxy
    details = {"start": manager.start, "stop": manager.stop, "reload": manager.reload}[action](lb_id)
    return ok(202, details)


@router.get("/1.0/listeners")
def list_listeners(agent: Agent = Depends(get_agent)) -> Any:
    """Every listener this amphora has a config for; like Octavia's agent, from the files alone (ACTIVE even
    if HAProxy is down: the heartbeat tells the real state)."""
    listeners = [{"status": "ACTIVE", "uuid": lid, "type": kind}
                 for lb in agent.haproxy.lb_ids() for lid, kind in agent.haproxy.listeners(lb).items()]
    udp_ids = agent.udp.listener_ids() if agent.udp is not None else []
    return listeners + [{"status": "ACTIVE", "uuid": lid, "type": "UDP"} for lid in udp_ids]


@router.delete("/1.0/listeners/{object_id}")
def delete_listener(object_id: str, agent: Agent = Depends(get_agent)) -> Any:
    if agent.owns_udp(object_id):
        agent.udp.delete(object_id)
    elif is_safe_id(object_id):
        agent.haproxy.remove(object_id)  # treated as a load balancer id, as Octavia's agent does
    return ok(200)
