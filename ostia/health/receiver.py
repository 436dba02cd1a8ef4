"""The heartbeat receiver: one UDP socket, verify and decode each datagram, drop replays, hand beats on.

Everything rejected is counted by reason (for /metrics) and logged once per source address and reason, so a
misconfigured amphora, or someone spraying the port, cannot flood the log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ostia import heartbeat

LOG = logging.getLogger(__name__)

# Bursts (every amphora of a big deployment restarting its sender at once, or the updater pausing on a slow
# commit) must queue in the kernel, not be dropped: 8 MiB holds ~40,000 typical heartbeats.
DEFAULT_RCVBUF = 8 * 1024 * 1024
_MAX_LOGGED_SOURCES = 4096
_EPOCH = dt.datetime(1970, 1, 1)


class Counters:
    """Thread-safe named counters shared by the receiver and the updater."""

    NAMES = ("packets", "accepted", "bad_signature", "undecodable", "malformed", "replayed", "overflow",
             "unknown_amphora", "listener_count_mismatch", "too_slow", "db_errors", "batches")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(self.NAMES, 0)
        self.packets = 0

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0) + n

    def get(self, name: str) -> int:
        if name == "packets":
            return self.packets
        with self._lock:
            return self._values.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {**self._values, "packets": self.packets}


@dataclasses.dataclass(slots=True)
class Beat:
    """One verified heartbeat: the message and when it arrived (monotonic for ageing, UTC wall time for rows)."""

    amphora_id: str
    seq: int
    message: dict[str, Any]
    recv_time: float
    received_at: dt.datetime
    source: str


def _well_formed(message: Mapping[str, Any]) -> bool:
    # Plain loops: this runs for every datagram, and generators in all() cost twice as much.
    listeners, pools = message.get("listeners", {}), message.get("pools", {})
    if not isinstance(listeners, dict) or not isinstance(pools, dict):
        return False
    for listener in listeners.values():
        if not isinstance(listener, dict):
            return False
    for pool in pools.values():
        if not isinstance(pool, dict) or not isinstance(pool.get("members", {}), dict):
            return False
    return True


def bind_socket(ip: str, port: int, rcvbuf: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if rcvbuf:
            try:  # root may exceed net.core.rmem_max, everyone else gets at most that
                sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), rcvbuf)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


def kernel_drops(port: int) -> int:
    """Datagrams the kernel dropped for our socket (receive buffer full): the `drops` column of /proc/net/udp."""
    total = 0
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 13 and int(fields[1].rpartition(":")[2], 16) == port:
                total += int(fields[-1])
    return total


class Receiver:
    """Reads the socket in its own thread; `sink` gets every beat that passed signature and replay checks.

    The replay guard here is this process's memory (highest seq per amphora); the updater also checks the
    database's amphora_health.seq, which covers a restarted or a second health manager.
    """

    def __init__(self, sock: socket.socket, key: str, sink: Callable[[Beat], None], counters: Counters) -> None:
        self.sock = sock
        host, port = sock.getsockname()[:2]
        self._address = (str(host), int(port))  # still known after stop() closed the socket
        self.key = key
        self.sink = sink
        self.counters = counters
        self.highest_seq: dict[str, int] = {}
        self._logged: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self._address

    def kernel_drops(self) -> int:
        return kernel_drops(self.address[1])

    def start(self) -> None:
        self.sock.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="hm-receiver", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.sock.close()

    def _run(self) -> None:
        # Every socket call gives the GIL up, and while the updater computes it takes a switch interval to get it
        # back. A socket with a timeout costs two calls per datagram (poll, then recvfrom): here, while datagrams
        # are queued, one recvfrom each; poll only once the socket is empty (its timeout: how fast stop() is seen).
        recv = self.sock.recvfrom
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        while not self._stop.is_set():
            try:
                packet, addr = recv(heartbeat.MAX_PACKET)
            except BlockingIOError:
                poller.poll(200)
                continue
            except OSError as exc:
                if self._stop.is_set():
                    break
                LOG.warning("heartbeat socket: %s", exc)
                time.sleep(0.05)
                continue
            try:
                self.handle(packet, addr[0])
            except Exception:  # one bad packet must never stop the receiver
                LOG.exception("heartbeat from %s could not be handled", addr[0])

    def handle(self, packet: bytes, source: str) -> None:
        recv_time = time.monotonic()
        self.counters.packets += 1  # the receiver thread is its only writer: no lock on the hot path
        try:
            message = heartbeat.decode(packet, self.key)
        except heartbeat.InvalidHeartbeat as exc:
            reason = "bad_signature" if str(exc) == "bad signature" else "undecodable"
            self._reject(reason, source, str(exc))
            return
        if not _well_formed(message):
            self._reject("malformed", source, "listeners/pools are not objects")
            return
        amp_id, seq = message["id"], message["seq"]
        if seq <= self.highest_seq.get(amp_id, -1):
            self._reject("replayed", source, f"amp={amp_id} seq={seq} already seen")
            return
        self.highest_seq[amp_id] = seq
        received_at = _EPOCH + dt.timedelta(seconds=time.time())  # naive UTC, half the cost of now(UTC)
        self.sink(Beat(amp_id, seq, message, recv_time, received_at, source))

    def _reject(self, reason: str, source: str, detail: str) -> None:
        self.counters.add(reason)
        key = (reason, source)
        if key in self._logged:
            return
        if len(self._logged) >= _MAX_LOGGED_SOURCES:
            self._logged.clear()
        self._logged.add(key)
        LOG.warning("heartbeat dropped (%s) from %s: %s (logged once per source)", reason, source, detail)
