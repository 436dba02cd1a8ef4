"""The `agent` amphora driver: renders each load balancer's configuration and applies it through the agent API.

Per amphora: the TLS files the configuration names are uploaded first (skipped when the agent already holds the
same bytes), then haproxy.cfg (the agent checks it with `haproxy -c` and refuses a bad one, leaving the running
configuration alone), then a hitless reload; UDP listeners go to the agent's UDP proxy one by one.
Paths in the rendered configuration are the amphora's own, learned once from its `GET /info`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any

from sqlalchemy import select, update

from ostia.db.engine import Database
from ostia.db.models import Amphora, LoadBalancer
from ostia.db.to_spec import build_spec
from ostia.domain.listeners import LVS_PROTOCOLS
from ostia.domain.secrets import CertManager
from ostia.domain.spec import RenderSettings
from ostia.domain.vrrp import CHECK_SCRIPT, VrrpSpec
from ostia.drivers.amphora.client import AgentClient, AgentError
from ostia.drivers.amphora.tls_files import tls_files
from ostia.drivers.network.base import PortPlug
from ostia.render.haproxy import render_haproxy
from ostia.render.keepalived import render_keepalived

LOG = logging.getLogger("ostia.drivers.amphora")
# Certificate pushes come from housekeeping passes that try again later, and a failover asks for the VRRP
# status of amphorae that may be dead: do not wait out a dead agent.
ROTATION_RETRIES = 2


class RestAmphoraDriver:
    def __init__(self, db: Database, client: AgentClient, cert_manager: CertManager, build_timeout: float) -> None:
        self.db = db
        self.client = client
        self.cert_manager = cert_manager
        self.build_timeout = build_timeout
        # Per amphora id, both fixed for its life: the agent's address and its GET /info (paths to render with).
        self._addresses: dict[str, str] = {}
        self._info: dict[str, dict[str, Any]] = {}

    # -- plumbing -------------------------------------------------------------------------------------------

    def _address(self, amphora_id: str) -> str:
        address = self._addresses.get(amphora_id)
        if address is None:
            with self.db.session() as session:
                address = session.scalar(select(Amphora.lb_network_ip).where(Amphora.id == amphora_id))
            if not address:
                raise AgentError(f"amp={amphora_id} has no management address")
            self._addresses[amphora_id] = address
        return address

    def _call(self, amphora_id: str, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.call(amphora_id, self._address(amphora_id), method, path, **kwargs)

    def _settings(self, amphora_id: str) -> RenderSettings:
        info = self._info.get(amphora_id)
        if info is None:
            info = self._info[amphora_id] = self._call(amphora_id, "GET", "/info").json()
        base = info["base_path"]
        return RenderSettings(base_dir=base, cert_dir=info.get("cert_path") or f"{base}/certs", log_target=None,
                              user=info.get("haproxy_user"), ping_wrapper=f"{base}/ping-wrapper.sh")

    def _put_file(self, amphora_id: str, lb_id: str, name: str, data: bytes) -> None:
        path = f"/loadbalancer/{lb_id}/certificates/{name}"
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        have = self._call(amphora_id, "GET", path, ok=(200, 404))
        if have.status_code == 200 and have.json().get("md5sum") == digest:
            return
        self._call(amphora_id, "PUT", path, content=data)

    # -- AmphoraDriver --------------------------------------------------------------------------------------

    def wait_ready(self, amphora_id: str) -> None:
        self.client.wait_ready(amphora_id, self._address(amphora_id), self.build_timeout)

    def update(self, load_balancer_id: str, amphora_ids: list[str]) -> None:
        for amphora_id in amphora_ids:
            self._apply(load_balancer_id, amphora_id)

    def _apply(self, lb_id: str, amphora_id: str) -> None:
        settings = self._settings(amphora_id)
        with self.db.session() as session:
            lb = session.get_one(LoadBalancer, lb_id)
            spec = build_spec(lb, settings)
            files = tls_files(lb, spec, self.cert_manager)
            udp_specs, udp_gone = _udp(lb)
        for name, data in files.items():
            self._put_file(amphora_id, lb_id, name, data)
        desired = None
        if spec.listeners:
            config = render_haproxy(spec).encode()
            self._call(amphora_id, "PUT", f"/loadbalancer/{amphora_id}/{lb_id}/haproxy", content=config)
            self._call(amphora_id, "PUT", f"/loadbalancer/{lb_id}/reload")
            desired = hashlib.md5(config, usedforsecurity=False).hexdigest()
        else:  # nothing for HAProxy to serve: no process (Octavia deletes the LB's HAProxy too)
            self._call(amphora_id, "DELETE", f"/listeners/{lb_id}")
        with self.db.session() as session:  # what heartbeats' applied hash is compared with
            session.execute(update(Amphora).where(Amphora.id == amphora_id).values(config_hash=desired))
        for listener_id, body in udp_specs:
            self._call(amphora_id, "PUT", f"/listeners/{amphora_id}/{listener_id}/udp_listener", json=body)
        for listener_id in udp_gone:
            self._call(amphora_id, "DELETE", f"/listeners/{listener_id}")
        LOG.info("lb=%s amp=%s configuration applied (%d listeners, %d UDP)", lb_id, amphora_id,
                 len(spec.listeners), len(udp_specs))

    def remove(self, load_balancer_id: str, amphora_ids: list[str]) -> None:
        with self.db.session() as session:
            lb = session.get(LoadBalancer, load_balancer_id)
            udp_ids = [li.id for li in lb.listeners if li.protocol in LVS_PROTOCOLS] if lb else []
        for amphora_id in amphora_ids:
            for object_id in [load_balancer_id, *udp_ids]:
                try:
                    self._call(amphora_id, "DELETE", f"/listeners/{object_id}", retries=2)
                except AgentError:  # the amphora is deleted next anyway: an unreachable one is not an error
                    LOG.warning("lb=%s amp=%s could not remove %s", load_balancer_id, amphora_id, object_id)

    def post_vip_plug(self, amphora_id: str, vip_address: str, plug: PortPlug,
                      additional_vips: tuple[PortPlug, ...] = ()) -> None:
        body: dict[str, Any] = {
            "subnet_cidr": plug.subnet_cidr, "gateway": plug.gateway, "mac_address": plug.mac_address,
            "mtu": plug.mtu, "vrrp_ip": plug.ip_address, "host_routes": [],
            "additional_vips": [{"ip_address": v.ip_address, "subnet_cidr": v.subnet_cidr, "gateway": v.gateway,
                                 "host_routes": []} for v in additional_vips]}
        self._call(amphora_id, "POST", f"/plug/vip/{vip_address}", json=body)

    def post_network_plug(self, amphora_id: str, plug: PortPlug) -> None:
        body = {"mac_address": plug.mac_address, "mtu": plug.mtu,
                "fixed_ips": [{"ip_address": plug.ip_address, "subnet_cidr": plug.subnet_cidr,
                               "gateway": plug.gateway, "host_routes": []}]}
        self._call(amphora_id, "POST", "/plug/network", json=body)

    def update_vrrp(self, amphora_id: str, config: VrrpSpec) -> None:
        """Render keepalived.conf with this amphora's own track-script path and upload it (the agent tests it
        with `keepalived -t` in its namespace and keeps the old file when it fails)."""
        base = self._settings(amphora_id).base_dir
        text = render_keepalived(dataclasses.replace(config, check_script=f"{base}/{CHECK_SCRIPT}"))
        self._call(amphora_id, "PUT", "/vrrp/upload", content=text.encode())

    def start_vrrp(self, amphora_id: str) -> None:
        """Start keepalived, or reload it (SIGHUP) when it runs already: safe to repeat."""
        self._call(amphora_id, "PUT", "/vrrp/start")

    def vrrp_status(self, amphora_id: str) -> dict[str, Any] | None:
        try:
            return dict(self._call(amphora_id, "GET", "/vrrp/status", retries=ROTATION_RETRIES).json())
        except AgentError as exc:
            LOG.info("amp=%s VRRP status unknown: %s", amphora_id, exc)
            return None

    def put_server_certificate(self, amphora_id: str, pem: bytes) -> None:
        """Replace the agent's server certificate (cert + key PEM): new handshakes present it, HAProxy is untouched."""
        self._call(amphora_id, "PUT", "/certificate", content=pem, retries=ROTATION_RETRIES)

    def put_ca_bundle(self, amphora_id: str, pem: bytes) -> None:
        """Replace the CA certificates the agent accepts client certificates from (CA rotation)."""
        self._call(amphora_id, "PUT", "/ca_bundle", content=pem, retries=ROTATION_RETRIES)

    def forget(self, amphora_id: str) -> None:
        self._addresses.pop(amphora_id, None)
        self._info.pop(amphora_id, None)


def _udp(lb: LoadBalancer) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """UDP listeners to (re)apply, and UDP listener ids the agent must drop (deleted, disabled, no pool)."""
    from ostia.db.to_spec_udp import udp_listener_specs

    specs = [(s.id, s.to_dict()) for s in udp_listener_specs(lb)]
    wanted = {i for i, _ in specs}
    gone = [li.id for li in lb.listeners if li.protocol in LVS_PROTOCOLS and li.id not in wanted]
    return specs, gone
