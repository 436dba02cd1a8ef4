"""noop drivers: record every call and touch nothing (the flows still run end to end).

The noop network driver accepts any subnet/network/port UUID, like Octavia's, and makes up addresses
from 198.51.100.0/24 (TEST-NET-2) for them.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from typing import Any

from ostia.domain.vrrp import VrrpSpec
from ostia.drivers.compute.base import ComputeInstance
from ostia.drivers.network.base import PortPlug, Vip


class CallRecorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()
        self._delay = delay

    def record(self, name: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((name, args))
        if self._delay:
            time.sleep(self._delay)


class NoopComputeDriver(CallRecorder):
    def build(self, amphora_id: str, load_balancer_id: str | None) -> ComputeInstance:
        self.record("build", amphora_id, load_balancer_id)
        return ComputeInstance(str(uuid.uuid5(uuid.NAMESPACE_OID, f"compute-{amphora_id}")), None)

    def delete(self, compute_id: str) -> None:
        self.record("delete", compute_id)

    def status(self, compute_id: str) -> str:
        self.record("status", compute_id)
        return "ACTIVE"


class NoopNetworkDriver(CallRecorder):
    accepts_unknown_subnets = True

    def allocate_vip(self, load_balancer_id: str, subnet_id: str | None, network_id: str | None,
                     port_id: str | None, address: str | None) -> Vip:
        self.record("allocate_vip", load_balancer_id, subnet_id, network_id, port_id, address)
        digest = hashlib.sha256(load_balancer_id.encode()).digest()
        return Vip(port_id=port_id or str(uuid.uuid5(uuid.NAMESPACE_OID, f"vip-port-{load_balancer_id}")),
                   address=address or f"198.51.100.{digest[0] % 254 + 1}", subnet_id=subnet_id,
                   network_id=network_id or (str(uuid.uuid5(uuid.NAMESPACE_OID, subnet_id)) if subnet_id else None))

    def allocate_additional_vips(self, load_balancer_id: str, network_id: str | None,
                                 requests: list[tuple[str, str | None]]) -> list[Vip]:
        self.record("allocate_additional_vips", load_balancer_id, network_id, requests)
        out = []
        for subnet_id, address in requests:
            digest = hashlib.sha256(f"{load_balancer_id}/{subnet_id}".encode()).digest()
            out.append(Vip(port_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"vip-port-{load_balancer_id}/{subnet_id}")),
                           address=address or f"198.51.100.{digest[0] % 254 + 1}", subnet_id=subnet_id,
                           network_id=network_id))
        return out

    def deallocate_vip(self, load_balancer_id: str) -> None:
        self.record("deallocate_vip", load_balancer_id)

    def plug_vip(self, amphora_id: str, vip: Vip) -> PortPlug:
        self.record("plug_vip", amphora_id, vip)
        return PortPlug(mac_address="", ip_address=vip.address, subnet_cidr="198.51.100.0/24")

    def unplug_vip(self, amphora_id: str, vip: Vip) -> None:
        self.record("unplug_vip", amphora_id, vip)

    def plug_member_networks(self, amphora_id: str, subnet_ids: list[str]) -> list[PortPlug]:
        self.record("plug_member_networks", amphora_id, subnet_ids)
        return []

    def release_amphora(self, amphora_id: str) -> None:
        self.record("release_amphora", amphora_id)


class NoopAmphoraDriver(CallRecorder):
    def update(self, load_balancer_id: str, amphora_ids: list[str]) -> None:
        self.record("update", load_balancer_id, amphora_ids)

    def remove(self, load_balancer_id: str, amphora_ids: list[str]) -> None:
        self.record("remove", load_balancer_id, amphora_ids)

    def wait_ready(self, amphora_id: str) -> None:
        self.record("wait_ready", amphora_id)

    def post_vip_plug(self, amphora_id: str, vip_address: str, plug: PortPlug,
                      additional_vips: tuple[PortPlug, ...] = ()) -> None:
        self.record("post_vip_plug", amphora_id, vip_address, *(v.ip_address for v in additional_vips))

    def post_network_plug(self, amphora_id: str, plug: PortPlug) -> None:
        self.record("post_network_plug", amphora_id, plug.subnet_id)

    def forget(self, amphora_id: str) -> None:
        self.record("forget", amphora_id)

    def update_vrrp(self, amphora_id: str, config: VrrpSpec) -> None:
        self.record("update_vrrp", amphora_id, config)

    def start_vrrp(self, amphora_id: str) -> None:
        self.record("start_vrrp", amphora_id)

    def vrrp_status(self, amphora_id: str) -> dict[str, Any] | None:
        self.record("vrrp_status", amphora_id)
        return None
