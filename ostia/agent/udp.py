"""UDP listeners on the amphora: one nginx (stream module) per listener, health-checked by the agent.

Octavia runs one keepalived/LVS per UDP listener; this kernel has no IPVS, so `UdpService` runs one nginx per
listener instead (ostia/render/nginx.py says how the spec maps onto nginx) and checks the members itself
(ostia/agent/udp_checks.py). The agent app mounts `router`, calls `start()` when it starts, `stop()` when it
stops (nginx keeps serving), and `delete(id)` for `DELETE /1.0/listeners/{id}` when `owns(id)`.

    PUT /1.0/listeners/{amphora_id}/{listener_id}/udp_listener   body: UdpListenerSpec.to_dict() as JSON
        → 200 {"message": "OK"} + ETag (md5 of the body); 400 bad body or a config nginx refuses (the running
          one keeps serving); 500 nginx did not start or reload.
    GET /1.0/listeners/{listener_id}/udp_listener → the running nginx.conf (text/plain); 404 if unknown.

State on disk, per listener under `<base_path>/udp/<listener_id>/`: spec.json (the last accepted spec, so a new
agent can resume checking), down.json (members the checks hold DOWN, so a restart does not put a dead member
back into rotation) and nginx's own files (ostia/agent/udp_nginx.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import fastapi
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ostia.agent.udp_checks import NO_CHECK, ListenerChecker, check_key
from ostia.agent.udp_nginx import NginxError, NginxProcess
from ostia.domain.errors import BadRequest
from ostia.domain.udp import UdpListenerSpec, is_valid_id
from ostia.render.nginx import render_nginx
from ostia.render.quoting import Unsafe

LOG = logging.getLogger(__name__)
_JOIN_TIMEOUT = 2.0


class _Failure(Exception):
    def __init__(self, status: int, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.details = status, message, details

    def response(self) -> JSONResponse:
        body = {"message": self.message}
        if self.details:
            body["details"] = self.details
        return JSONResponse(body, status_code=self.status)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class UdpService:
    def __init__(self, base_path: Path, network_namespace: str | None) -> None:
        self.root = Path(base_path) / "udp"
        self.namespace = network_namespace
        # One lock for every listener: config pushes are rare and a health change only re-renders one file,
        # and a single lock leaves no lock-ordering between the routes and the checker callbacks.
        self._lock = threading.RLock()
        self._specs: dict[str, UdpListenerSpec] = {}
        self._checkers: dict[str, ListenerChecker] = {}
        self.router = fastapi.APIRouter()
        self.router.add_api_route("/1.0/listeners/{amphora_id}/{listener_id}/udp_listener", self._put_route,
                                  methods=["PUT"])
        self.router.add_api_route("/1.0/listeners/{listener_id}/udp_listener", self._get_route, methods=["GET"])

    # ---- the interface the agent app uses -------------------------------------------------------------
    def start(self) -> None:
        """Resume every listener found on disk: re-adopt its running nginx (or start it) and its checks."""
        for listener_id in self.listener_ids():
            try:
                spec = UdpListenerSpec.from_dict(json.loads((self._dir(listener_id) / "spec.json").read_text()))
            except (OSError, ValueError, BadRequest):
                LOG.exception("listener=%s: unreadable spec.json, not resumed", listener_id)
                continue
            with self._lock:
                self._specs[listener_id] = spec
                nginx = self._nginx(listener_id)
                pid = nginx.pid()
                if pid is not None:
                    LOG.info("listener=%s: adopted running nginx pid=%d", listener_id, pid)
                else:
                    try:
                        LOG.info("listener=%s: nginx started pid=%d", listener_id, nginx.start())
                    except (NginxError, OSError):
                        LOG.exception("listener=%s: nginx did not start", listener_id)
                self._replace_checker(spec, self._read_down(listener_id))

    def stop(self) -> None:
        """Stop the health checks only; every nginx keeps serving for the next agent to adopt."""
        with self._lock:
            checkers = list(self._checkers.values())
            self._checkers.clear()
        for c in checkers:
            c.stop()
        for c in checkers:
            c.join(_JOIN_TIMEOUT)

    def owns(self, listener_id: str) -> bool:
        return is_valid_id(listener_id) and (self._dir(listener_id) / "nginx.conf").is_file()

    def listener_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(d.name for d in self.root.iterdir() if (d / "spec.json").is_file())

    def delete(self, listener_id: str) -> None:
        if not is_valid_id(listener_id):
            return
        with self._lock:
            checker = self._checkers.pop(listener_id, None)
            self._specs.pop(listener_id, None)
            if checker is not None:
                checker.stop()
            directory = self._dir(listener_id)
            if directory.is_dir():
                self._nginx(listener_id).stop()
                shutil.rmtree(directory, ignore_errors=True)
        LOG.info("listener=%s: UDP listener deleted", listener_id)

    def member_status(self, listener_id: str) -> dict[str, str]:
        """{member id: "UP" | "DOWN" | "no check"} for heartbeats; {} for an unknown listener. Admin-down
        members and members of a listener without a monitor are "no check"."""
        # No service lock: a health change holds it while nginx reloads, and heartbeats must not wait for that
        # (single dict reads are atomic under the GIL; the checker has its own lock).
        spec = self._specs.get(listener_id)
        checker = self._checkers.get(listener_id)
        if spec is None:
            return {}
        status = {m.id: NO_CHECK for m in spec.members}
        if checker is not None:
            status.update(checker.status())
        return status

    # ---- routes ---------------------------------------------------------------------------------------
    async def _put_route(self, amphora_id: str, listener_id: str, request: fastapi.Request) -> Response:
        body = await request.body()
        try:
            await run_in_threadpool(self.apply, listener_id, body)
        except _Failure as failure:
            return failure.response()
        return JSONResponse({"message": "OK"}, headers={"ETag": hashlib.md5(body).hexdigest()})

    def _get_route(self, listener_id: str) -> Response:
        if not self.owns(listener_id):
            return JSONResponse({"message": "UDP Listener Not Found",
                                 "details": f"No UDP listener with UUID: {listener_id}"}, status_code=404)
        return PlainTextResponse((self._dir(listener_id) / "nginx.conf").read_text())

    # ---- applying a spec ------------------------------------------------------------------------------
    def apply(self, listener_id: str, body: bytes) -> None:
        """Validate, render, `nginx -t`, swap in, start or reload, (re)start the checks. Raises _Failure."""
        try:
            spec = UdpListenerSpec.from_dict(json.loads(body))
        except ValueError as exc:
            raise _Failure(400, f"Invalid request body: {exc}") from exc
        except BadRequest as exc:
            raise _Failure(400, exc.message) from exc
        if spec.id != listener_id:
            raise _Failure(400, f"Invalid request body: id {spec.id} does not match listener {listener_id}")
        with self._lock:
            down = self._carried_down(spec)
            nginx = self._nginx(listener_id)
            self._render_and_apply(spec, down, nginx)
            self._specs[listener_id] = spec
            _write(self._dir(listener_id) / "spec.json", json.dumps(spec.to_dict(), indent=1))
            self._replace_checker(spec, down)
        LOG.info("listener=%s: UDP listener applied (%d members)", listener_id, len(spec.members))

    def _render_and_apply(self, spec: UdpListenerSpec, down: frozenset[str], nginx: NginxProcess) -> None:
        try:
            text = render_nginx(spec, down, nginx.paths)
        except Unsafe as exc:
            raise _Failure(400, f"Invalid request body: {exc}") from exc
        running = nginx.pid() is not None
        if running and nginx.conf.is_file() and nginx.conf.read_text() == text:
            self._write_down(spec.id, down)
            return  # an idempotent re-push: nothing to reload
        try:
            nginx.stage(text)
        except NginxError as exc:
            raise _Failure(400, "Invalid nginx configuration", str(exc)) from exc
        previous = nginx.conf.read_text() if nginx.conf.is_file() else None
        nginx.swap()
        try:
            if running:
                nginx.reload()
            else:
                nginx.start()
        except (NginxError, OSError) as exc:
            if previous is not None:  # the file on disk must stay what the running nginx serves
                _write(nginx.conf, previous)
            raise _Failure(500, f"Error {'reloading' if running else 'starting'} nginx", str(exc)) from exc
        self._write_down(spec.id, down)

    def _carried_down(self, spec: UdpListenerSpec) -> frozenset[str]:
        """Members of the new spec that stay DOWN: checked the same way as before and DOWN now."""
        old = self._specs.get(spec.id)
        checker = self._checkers.get(spec.id)
        if old is None or checker is None or spec.health_monitor is None:
            return frozenset()
        before = {m.id: check_key(old.health_monitor, m) for m in old.members}
        now_down = checker.down_ids()
        return frozenset(m.id for m in spec.members
                         if m.id in now_down and before.get(m.id) == check_key(spec.health_monitor, m))

    def _replace_checker(self, spec: UdpListenerSpec, down: frozenset[str]) -> None:
        old = self._checkers.pop(spec.id, None)
        if old is not None:
            old.stop()  # not joined: its thread may be waiting for this lock in _health_changed
        if spec.health_monitor is None:
            return
        checker = ListenerChecker(spec.id, spec.health_monitor, spec.members, self.namespace, down,
                                  self._health_changed)
        self._checkers[spec.id] = checker
        checker.start()

    def _health_changed(self, checker: ListenerChecker) -> None:
        """Called on a checker thread when a member went UP or DOWN: re-render and reload."""
        with self._lock:
            if self._checkers.get(checker.listener_id) is not checker:
                return  # replaced or deleted meanwhile
            spec = self._specs[checker.listener_id]
            try:
                self._render_and_apply(spec, checker.down_ids(), self._nginx(spec.id))
            except _Failure as failure:
                LOG.error("listener=%s: health change not applied: %s %s", spec.id, failure.message,
                          failure.details or "")

    # ---- files ----------------------------------------------------------------------------------------
    def _dir(self, listener_id: str) -> Path:
        return self.root / listener_id

    def _nginx(self, listener_id: str) -> NginxProcess:
        return NginxProcess(self._dir(listener_id), self.namespace)

    def _read_down(self, listener_id: str) -> frozenset[str]:
        try:
            data: Any = json.loads((self._dir(listener_id) / "down.json").read_text())
        except (OSError, ValueError):
            return frozenset()
        return frozenset(str(i) for i in data) if isinstance(data, list) else frozenset()

    def _write_down(self, listener_id: str, down: frozenset[str]) -> None:
        with contextlib.suppress(OSError):
            _write(self._dir(listener_id) / "down.json", json.dumps(sorted(down)))
