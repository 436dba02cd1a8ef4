"""Health checks of UDP listener members, run by the agent (nginx open source has no active checks).

One `ListenerChecker` per UDP listener with a health monitor; it runs one thread per enabled member, each probing
every `delay` seconds and counting rise (`max_retries`) and fall (`max_retries_down`) like keepalived does for
Octavia's LVS listeners. When a member changes state the checker calls `on_change(checker)`; the service then
re-renders nginx.conf with the DOWN members marked `down` and reloads nginx.

Probes (Octavia's checks for UDP pools, API §3.2, plus PING):
* UDP-CONNECT: a connected UDP socket sends one datagram; an ICMP port-unreachable (ConnectionRefusedError on
  recv) is DOWN, a reply or silence until the timeout is UP (what Octavia's `nc -uz` check does).
* TCP: a TCP connect within the timeout. HTTP: `<method> <url_path>` answered with one of expected_codes.
* PING: `ping -c1 -W <timeout>`. SCTP: an SCTP association; this kernel has no SCTP, so such members report
  "no check" and are never taken out.
With a network namespace every probe thread first joins it (setns on that thread only): sockets it opens and
processes it starts (ping) live in the namespace. Without one, nothing is ever sent to 198.18.0.0/15 (the
host's default route would carry it out of the machine, machine-notes §2).
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ostia import netns
from ostia.domain.enums import HealthMonitorType
from ostia.domain.udp import UdpHealthMonitorSpec, UdpMemberSpec, expected_code_set

LOG = logging.getLogger(__name__)
UP, DOWN, NO_CHECK = "UP", "DOWN", "no check"
_FABRIC = ipaddress.ip_network("198.18.0.0/15")


class ProbeUnsupported(Exception):
    """The probe cannot run here at all (no SCTP in the kernel, an address that must not be probed)."""


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def probe_udp_connect(address: str, port: int, timeout: float) -> bool:
    with socket.socket(_family(address), socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            sock.send(b"X")
            sock.recv(2048)
        except ConnectionRefusedError:
            return False  # ICMP port unreachable: nothing listens
        except TimeoutError:
            return True  # silence is not a failure for UDP
        except OSError:
            return False  # no route, host unreachable
    return True


def probe_tcp(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def probe_http(address: str, port: int, timeout: float, monitor: UdpHealthMonitorSpec) -> bool:
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    headers = {"Host": monitor.domain_name} if monitor.domain_name else {}
    try:
        conn.request(monitor.http_method or "GET", monitor.url_path or "/", headers=headers)
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    return status in expected_code_set(monitor.expected_codes)


def probe_ping(address: str, timeout: float) -> bool:
    wait = str(max(1, int(timeout)))
    try:
        done = subprocess.run(["ping", "-n", "-q", "-c1", "-W", wait, address], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=int(wait) + 2,
                              check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def probe_sctp(address: str, port: int, timeout: float) -> bool:
    try:
        sock = socket.socket(_family(address), socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    except OSError as exc:
        if exc.errno in (errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT, errno.EAFNOSUPPORT):
            raise ProbeUnsupported("this kernel has no SCTP") from exc
        raise
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
        except OSError:
            return False  # ABORT (refused) or no answer
    return True


def probe(monitor: UdpHealthMonitorSpec, member: UdpMemberSpec, in_namespace: bool) -> bool:
    """One check of one member; raises ProbeUnsupported when it cannot be checked here."""
    address, port = member.check_address, member.check_port
    if not in_namespace and ipaddress.ip_address(address) in _FABRIC:
        raise ProbeUnsupported(f"{address} is only reachable inside a network namespace")
    timeout = float(monitor.timeout) if monitor.timeout > 0 else 1.0
    kind = monitor.type
    if kind == HealthMonitorType.UDP_CONNECT:
        return probe_udp_connect(address, port, timeout)
    if kind == HealthMonitorType.TCP:
        return probe_tcp(address, port, timeout)
    if kind == HealthMonitorType.HTTP:
        return probe_http(address, port, timeout, monitor)
    if kind == HealthMonitorType.PING:
        return probe_ping(address, timeout)
    if kind == HealthMonitorType.SCTP:
        return probe_sctp(address, port, timeout)
    raise ProbeUnsupported(f"monitor type {kind}")


def check_key(monitor: UdpHealthMonitorSpec | None, member: UdpMemberSpec) -> tuple[object, ...]:
    """What a member's health result depends on: a new spec keeps the old state only if this is unchanged."""
    return (monitor, member.check_address, member.check_port, member.enabled)


@dataclass
class _Health:
    state: str = UP  # keepalived starts real servers alive, so does this
    successes: int = 0
    failures: int = 0


class ListenerChecker:
    def __init__(self, listener_id: str, monitor: UdpHealthMonitorSpec, members: tuple[UdpMemberSpec, ...],
                 namespace: str | None, initial_down: frozenset[str],
                 on_change: Callable[[ListenerChecker], None]) -> None:
        self.listener_id = listener_id
        self.monitor = monitor
        self._members = [m for m in members if m.enabled]
        self._namespace = namespace
        self._on_change = on_change
        self._lock = threading.Lock()
        self._health = {m.id: _Health(DOWN if m.id in initial_down else UP) for m in self._members}
        self._unsupported: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for m in self._members:
            t = threading.Thread(target=self._run, args=(m,), name=f"udp-check-{self.listener_id}-{m.id}",
                                 daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self) -> None:
        """Ask the threads to end; a probe in flight finishes first (at most `timeout` seconds)."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def down_ids(self) -> frozenset[str]:
        with self._lock:
            return frozenset(i for i, h in self._health.items() if h.state == DOWN and i not in self._unsupported)

    def status(self) -> dict[str, str]:
        with self._lock:
            return {i: NO_CHECK if i in self._unsupported else h.state for i, h in self._health.items()}

    def _run(self, member: UdpMemberSpec) -> None:
        if self._namespace:
            try:
                netns.join(self._namespace)
            except OSError:
                LOG.exception("listener=%s member=%s: cannot enter netns %s, not checking",
                              self.listener_id, member.id, self._namespace)
                self._mark_unsupported(member.id)
                return
        interval = float(max(1, self.monitor.delay))
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                ok = probe(self.monitor, member, in_namespace=bool(self._namespace))
            except ProbeUnsupported as exc:
                LOG.warning("listener=%s member=%s: not checked: %s", self.listener_id, member.id, exc)
                self._mark_unsupported(member.id)
                return
            except Exception:  # a probe bug must not kill the checker; count it as a failure
                LOG.exception("listener=%s member=%s: probe failed", self.listener_id, member.id)
                ok = False
            if self._stop.is_set():
                return
            if self._record(member.id, ok):
                self._on_change(self)
            next_at += interval
            now = time.monotonic()
            if next_at < now:  # a slow probe: start the next one now rather than bursting to catch up
                next_at = now
            self._stop.wait(next_at - now)

    def _mark_unsupported(self, member_id: str) -> None:
        with self._lock:
            was_down = self._health[member_id].state == DOWN
            self._unsupported.add(member_id)
        if was_down:
            self._on_change(self)

    def _record(self, member_id: str, ok: bool) -> bool:
        """Count one result; True when the member changed state."""
        with self._lock:
            h = self._health[member_id]
            if ok:
                h.failures = 0
                h.successes += 1
                if h.state == DOWN and h.successes >= self.monitor.max_retries:
                    h.state = UP
                    LOG.info("listener=%s member=%s: UP after %d checks", self.listener_id, member_id, h.successes)
                    return True
            else:
                h.successes = 0
                h.failures += 1
                if h.state == UP and h.failures >= self.monitor.max_retries_down:
                    h.state = DOWN
                    LOG.info("listener=%s member=%s: DOWN after %d failures", self.listener_id, member_id,
                             h.failures)
                    return True
        return False
