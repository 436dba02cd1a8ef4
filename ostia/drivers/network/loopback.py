"""The loopback network driver (default, no root): every 127.0.0.0/8 address is already local.

VIPs and member-subnet addresses still come from IPAM, so two load balancers never share an address, but
nothing is plugged: the agent gets PortPlugs with an empty MAC and HAProxy binds the VIP in the host
namespace. SINGLE topology only (no VRRP without interfaces of its own).
"""

from __future__ import annotations

import logging

from ostia.domain import errors
from ostia.drivers.network.base import PortPlug, Vip
from ostia.drivers.network.ipam import OWNER_MEMBER
from ostia.drivers.network.local import LocalNetworkDriver, to_plug

LOG = logging.getLogger(__name__)


class LoopbackNetworkDriver(LocalNetworkDriver):
    def plug_vip(self, amphora_id: str, vip: Vip) -> PortPlug:
        alloc = self.ipam.port(vip.port_id) if vip.port_id else None
        if alloc is not None:
            return to_plug(alloc, mac_address="")
        if not vip.subnet_id:
            raise errors.ValidationFailure(f"VIP {vip.address} of amphora {amphora_id} has no subnet.")
        subnet = self.ipam.subnet(vip.subnet_id)
        return PortPlug(mac_address="", ip_address=vip.address, subnet_cidr=subnet.cidr, gateway=subnet.gateway_ip,
                        subnet_id=subnet.id)

    def unplug_vip(self, amphora_id: str, vip: Vip) -> None:
        # Nothing was plugged; the VIP's own port row goes with deallocate_vip.
        LOG.debug("amp=%s unplug_vip: nothing to unplug on loopback", amphora_id)

    def plug_member_networks(self, amphora_id: str, subnet_ids: list[str]) -> list[PortPlug]:
        vip_subnet = self.vip_subnet_of(amphora_id)
        for sid in self.known_subnets(subnet_ids):
            if sid != vip_subnet:
                self.ipam.allocate(sid, amphora_id, OWNER_MEMBER, name=f"ostia-member-{amphora_id}")
        return [to_plug(a, mac_address="") for a in self.ipam.ports(amphora_id, OWNER_MEMBER)]

    def release_amphora(self, amphora_id: str) -> None:
        for alloc in self.ipam.release(amphora_id):
            LOG.info("amp=%s released port %s (%s)", amphora_id, alloc.port_id, alloc.ip_address)
