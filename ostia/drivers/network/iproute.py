"""Thin, idempotent wrappers over iproute2 (`ip netns …`, `ip -n <ns> …`); ostia.netns enters namespaces.

Everything here acts inside named namespaces; nothing touches the host namespace's links, addresses or
routes. Errors carry the command and its stderr so a failed plug says what the kernel refused.
"""

from __future__ import annotations

import os
import subprocess

from ostia.domain import errors

NETNS_DIR = "/run/netns"
_TIMEOUT = 30  # seconds; one `ip` call takes milliseconds, a hung one must not hang a flow forever


class IpCommandError(errors.OstiaError):
    pass


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise IpCommandError(f"`{' '.join(cmd)}` failed: {exc}") from exc
    if check and proc.returncode != 0:
        raise IpCommandError(f"`{' '.join(cmd)}` exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def namespace_exists(ns: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, ns))


def namespaces() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def ensure_namespace(ns: str) -> None:
    """Create `ns` with lo up; re-running (or a concurrent creator) is fine."""
    if not namespace_exists(ns):
        proc = ip("netns", "add", ns, check=False)
        if proc.returncode != 0 and not namespace_exists(ns):
            raise IpCommandError(f"`ip netns add {ns}` exited {proc.returncode}: {proc.stderr.strip()}")
    ip("-n", ns, "link", "set", "dev", "lo", "up")


def delete_namespace(ns: str) -> None:
    """Deleting a namespace also deletes its veth ends (and so their peers) and its bridges."""
    if namespace_exists(ns):
        proc = ip("netns", "del", ns, check=False)
        if proc.returncode != 0 and namespace_exists(ns):
            raise IpCommandError(f"`ip netns del {ns}` exited {proc.returncode}: {proc.stderr.strip()}")


def link_exists(ns: str, name: str) -> bool:
    return namespace_exists(ns) and ip("-n", ns, "link", "show", "dev", name, check=False).returncode == 0


def ensure_bridge(ns: str, name: str) -> None:
    if not link_exists(ns, name):
        proc = ip("-n", ns, "link", "add", name, "type", "bridge", check=False)
        if proc.returncode != 0 and not link_exists(ns, name):
            raise IpCommandError(f"creating bridge {name} in {ns} failed: {proc.stderr.strip()}")
    ip("-n", ns, "link", "set", "dev", name, "up")


def ensure_veth(fabric: str, name: str, bridge: str, peer_ns: str, peer_name: str, peer_mac: str) -> None:
    """A veth created in `fabric` whose peer lands straight in `peer_ns` (never in the host namespace),
    with the fabric end enslaved to `bridge` and up. The peer is left for its owner to configure."""
    if not link_exists(fabric, name):
        proc = ip("-n", fabric, "link", "add", name, "type", "veth",
                  "peer", "name", peer_name, "address", peer_mac, "netns", peer_ns, check=False)
        if proc.returncode != 0 and not link_exists(fabric, name):
            raise IpCommandError(f"creating veth {name} ({peer_ns}/{peer_name}) failed: {proc.stderr.strip()}")
    ip("-n", fabric, "link", "set", "dev", name, "master", bridge, "up")


def delete_link(ns: str, name: str) -> None:
    if link_exists(ns, name):
        proc = ip("-n", ns, "link", "del", "dev", name, check=False)
        if proc.returncode != 0 and link_exists(ns, name):
            raise IpCommandError(f"deleting {name} in {ns} failed: {proc.stderr.strip()}")


def set_sysctl(ns: str, key: str, value: str) -> None:
    ip("netns", "exec", ns, "sysctl", "-q", "-w", f"{key}={value}")
