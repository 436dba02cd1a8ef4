"""Thin, idempotent wrappers over iproute2 (`ip netns …`, `ip -n <ns> …`) and a setns helper.

Everything here acts inside named namespaces; nothing touches the host namespace's links, addresses or
routes. Errors carry the command and its stderr so a failed plug says what the kernel refused.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ostia.domain import errors

T = TypeVar("T")

NETNS_DIR = "/run/netns"
_CLONE_NEWNET = 0x40000000
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


_libc: Any = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def run_in_namespace(ns: str, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` on a fresh thread that joined network namespace `ns`; return its result or raise.

    Sockets `fn` creates stay in `ns` after it returns, so host code can talk to 198.18.x.x addresses
    there without `ip netns exec` and without any host interface or route. (os.setns is Python 3.12+.)
    """
    path = os.path.join(NETNS_DIR, ns)
    if not os.path.exists(path):
        raise IpCommandError(f"network namespace {ns} does not exist")
    outcome: dict[str, Any] = {}  # "value" or "error", set by the thread

    def target() -> None:
        try:
            # /proc/1/ns/net may be unreadable: remember this thread's own namespace to switch back.
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            try:
                target_fd = os.open(path, os.O_RDONLY)
                try:
                    _setns(target_fd)
                finally:
                    os.close(target_fd)
                try:
                    outcome["value"] = fn(*args)
                finally:
                    _setns(own)
            finally:
                os.close(own)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{ns}", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    result: T = outcome["value"]
    return result
