"""Gratuitous ARP for a SINGLE amphora's VIPs (keepalived sends its own in ACTIVE_STANDBY).

After a failover the VIP answers from a new NIC with a new MAC; clients keep the dead amphora's MAC in their ARP
cache until it expires (tens of seconds) unless the new owner announces itself, as Octavia's agent does after
plugging. A few announcements spaced out cover a bridge port that is not forwarding yet.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time

from ostia import netns

LOG = logging.getLogger(__name__)
ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6


def frames(mac: str, address: str) -> list[bytes]:
    """An ARP request and an ARP reply, both announcing `address` at `mac` (clients differ in which they heed)."""
    hw = bytes.fromhex(mac.replace(":", ""))
    ip = ipaddress.IPv4Address(address).packed
    out = []
    for op, target_hw in ((1, b"\x00" * 6), (2, BROADCAST)):
        arp = (b"\x00\x01\x08\x00\x06\x04" + op.to_bytes(2, "big") + hw + ip + target_hw + ip)
        out.append(BROADCAST + hw + ETH_P_ARP.to_bytes(2, "big") + arp)
    return out


def announce(namespace: str, interface: str, mac: str, addresses: list[str], count: int = 5,
             interval: float = 0.4) -> None:
    """Send the announcements from a background thread (the plug call does not wait for them)."""
    ipv4 = [a for a in addresses if ipaddress.ip_address(a).version == 4]
    if not ipv4 or not mac:
        return

    def send() -> None:
        # The socket is opened inside the amphora's namespace, bound to its interface there.
        sock = netns.run_in(namespace, socket.socket, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
        try:
            netns.run_in(namespace, sock.bind, (interface, 0))
            for i in range(count):
                for address in ipv4:
                    for frame in frames(mac, address):
                        sock.send(frame)
                if i + 1 < count:
                    time.sleep(interval)
        except OSError as exc:
            LOG.warning("gratuitous ARP on %s in %s failed: %s", interface, namespace, exc)
        finally:
            sock.close()

    threading.Thread(target=send, name="garp", daemon=True).start()
