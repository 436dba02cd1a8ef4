"""The agent's heartbeat: every heartbeat_interval one signed UDP datagram to the next health manager in turn.

The message (version 3, format in ostia/heartbeat.py) covers every load balancer on this amphora: HAProxy's
`show stat` over <base_path>/<lb_id>.sock for TCP/HTTP listeners, the UdpService for UDP listeners, and the
md5 of the haproxy.cfg the agent applied, which the controller compares with what it pushed.

Rules that matter to the health manager:
- `seq` grows by one per beat sent and continues across agent restarts (<base_path>/heartbeat_seq holds the
  next value), so a replay guard keyed on it never drops a restarted agent's beats.
- A keepalived config without a running keepalived means a broken VRRP amphora: no beat at all, so it goes
  stale and is failed over (as Octavia's amphora does).
- An LB whose HAProxy is not running is left out: its listeners go missing, and the health manager decides.
- Counters are deltas since the previous beat (ostia/agent/heartbeat_stats.py Counters).
- Nothing stops the loop: send errors are logged once per target per minute, anything else is logged.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from ostia import heartbeat
from ostia.agent import heartbeat_stats as hs
from ostia.agent import stats
from ostia.agent.haproxy import HaproxyManager
from ostia.agent.keepalived import Keepalived
from ostia.agent.settings import AgentSettings
from ostia.domain.errors import BadRequest

LOG = logging.getLogger(__name__)
ERROR_LOG_PERIOD = 60.0  # seconds between two log lines about the same failing target
STATS_TIMEOUT = 2.0  # seconds for one LB's `show stat`: a hung HAProxy must not stall the beat for long
_ZERO_STATS = {"tx": 0, "rx": 0, "conns": 0, "totconns": 0, "ereq": 0}


def parse_target(text: str) -> tuple[str, int]:
    """'ip:port', '[v6]:port' or 'host:port' → (host, port); ValueError otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not ip:port: {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        ipaddress.IPv6Address(host)
    elif ":" in host:
        raise ValueError(f"an IPv6 address needs brackets: {text!r}")
    return host, int(port)


class _Target:
    """One health manager: a connected UDP socket, so an ICMP refusal surfaces as an error on a later send."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.host, self.port = parse_target(text)
        self.sock: socket.socket | None = None
        self.last_error_log = -ERROR_LOG_PERIOD

    def send(self, packet: bytes) -> None:
        if self.sock is None:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.connect((self.host, self.port))
            except OSError:
                sock.close()
                raise
            self.sock = sock
        self.sock.send(packet)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class HeartbeatSender:
    def __init__(self, settings: AgentSettings, haproxy: HaproxyManager, keepalived: Keepalived,
                 udp: Any = None) -> None:
        self.s = settings
        self.haproxy = haproxy
        self.keepalived = keepalived
        self.udp = udp  # ostia.agent.udp.UdpService or None
        self.targets: list[_Target] = []
        for text in settings.controller_ip_port_list:
            try:
                self.targets.append(_Target(text))
            except ValueError as exc:
                LOG.error("amp=%s heartbeat target ignored: %s", settings.amphora_id, exc)
        self._next_target = 0
        self.seq_file = settings.base_path / "heartbeat_seq"
        self.seq = self._read_seq()
        self.counters = hs.Counters(settings.base_path / "stats_counters.json")
        self.member_counters = hs.Counters(settings.base_path / "member_counters.json", hs.MEMBER_COUNTERS)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._skipping = False

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> bool:
        """Start the loop thread; False (and nothing runs) without targets or key."""
        if not self.targets or not self.s.heartbeat_key:
            LOG.warning("amp=%s sends no heartbeats (no controller_ip_port_list or no heartbeat_key)",
                        self.s.amphora_id)
            return False
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()
        LOG.info("amp=%s heartbeats every %.2fs to %s (seq %d)", self.s.amphora_id, self.s.heartbeat_interval,
                 ", ".join(t.text for t in self.targets), self.seq)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for target in self.targets:
            target.close()

    def _run(self) -> None:
        interval = self.s.heartbeat_interval
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            try:
                self.beat()
            except Exception:  # the loop outlives any bug in one beat
                LOG.exception("amp=%s heartbeat failed", self.s.amphora_id)
            # A fixed schedule, not sleep(interval) after the work: beats do not drift later and later.
            due += interval
            now = time.monotonic()
            if due < now:
                due = now + interval  # a very slow beat: skip the missed slots instead of bursting
        LOG.info("amp=%s heartbeats stopped", self.s.amphora_id)

    # -- one beat ------------------------------------------------------------------------------------------

    def beat(self) -> dict[str, Any] | None:
        """Build, sign and send one heartbeat; the message sent, or None when this beat is skipped."""
        if self._vrrp_broken():
            if not self._skipping:
                LOG.warning("amp=%s keepalived is configured but not running: heartbeats withheld",
                            self.s.amphora_id)
            self._skipping = True
            return None
        if self._skipping:
            LOG.info("amp=%s keepalived runs again: heartbeats resume", self.s.amphora_id)
            self._skipping = False
        message = self.build()
        try:
            packet = heartbeat.encode(message, self.s.heartbeat_key)
        except ValueError:
            # Too big for one datagram: the statuses matter (a missing beat means failover), the per-member
            # traffic for /metrics does not, so it goes (and that beat's member deltas are lost).
            for pool in message["pools"].values():
                pool.pop("member_stats", None)
            packet = heartbeat.encode(message, self.s.heartbeat_key)
            LOG.warning("amp=%s heartbeat too large with member traffic: sent without it", self.s.amphora_id)
        self._send(packet)
        return message

    def _vrrp_broken(self) -> bool:
        return self.keepalived.config.is_file() and self.keepalived.pid() is None

    def build(self) -> dict[str, Any]:
        listeners: dict[str, Any] = {}
        pools: dict[str, Any] = {}
        lb_ids = self.haproxy.lb_ids()
        for lb_id in lb_ids:
            lb = self._haproxy_stats(lb_id)
            if lb is None:
                continue
            for lid, stat in self.counters.deltas(lb_id, lb.counters).items():
                listeners[lid] = {"status": lb.listeners[lid]["status"],
                                  "stats": {**stat, "conns": lb.listeners[lid]["conns"]}}
            pools.update(lb.pools)
            self._add_member_stats(lb_id, lb, pools)
        for counters in (self.counters, self.member_counters):
            counters.keep_only(set(lb_ids))
            counters.save()
        self._add_udp(listeners, pools)
        message = {"id": self.s.amphora_id, "seq": self._take_seq(), "ver": heartbeat.VERSION,
                   "listeners": listeners, "pools": pools, "config_hash": self._config_hash(lb_ids)}
        return message

    def _add_member_stats(self, lb_id: str, lb: hs.LbStats, pools: dict[str, Any]) -> None:
        """Per-member traffic (deltas, `conns` absolute) beside the members' statuses, under `member_stats`:
        a health manager that does not know the key ignores it."""
        for key, stat in self.member_counters.deltas(lb_id, lb.member_counters).items():
            pool_key, _, member = key.rpartition("/")
            pool = pools.get(pool_key)
            if pool is not None:
                pool.setdefault("member_stats", {})[member] = {**stat, "conns": lb.member_conns.get(key, 0)}

    def _haproxy_stats(self, lb_id: str) -> hs.LbStats | None:
        if self.haproxy.master_pid(lb_id) is None:
            return None
        try:
            rows = stats.show_stat(self.haproxy.stats_socket(lb_id), STATS_TIMEOUT)
        except OSError as exc:  # mid-reload or hung: this beat goes without the LB
            LOG.warning("lb=%s no stats for the heartbeat: %s", lb_id, exc)
            return None
        return hs.parse_haproxy(rows)

    def _add_udp(self, listeners: dict[str, Any], pools: dict[str, Any]) -> None:
        """UDP listeners from the UdpService. nginx OSS keeps no traffic counters, so their stats are zeros."""
        if self.udp is None:
            return
        # Imported here: the UDP modules are optional in the agent (see ostia/agent/app.py).
        from ostia.agent.udp_nginx import NginxProcess
        from ostia.domain.udp import UdpListenerSpec

        for lid in self.udp.listener_ids():
            directory = self.udp.root / lid
            try:
                spec = UdpListenerSpec.from_dict(json.loads((directory / "spec.json").read_text()))
            except (OSError, ValueError, BadRequest):
                continue  # being written or deleted right now
            running = NginxProcess(directory, self.udp.namespace).pid() is not None
            listeners[lid] = {"status": hs.OPEN if running else hs.DOWN, "stats": dict(_ZERO_STATS)}
            if spec.pool_id is None:
                continue  # a spec from before pool ids were sent: no pool to report
            checked = self.udp.member_status(lid)
            members = {}
            for m in spec.members:
                status = checked.get(m.id, hs.NO_CHECK)
                if not m.enabled:
                    status = hs.MAINT  # what HAProxy says of a disabled server
                elif status == hs.UP and m.weight == 0:
                    status = hs.DRAIN
                members[m.id] = status
            pools[f"{spec.pool_id}:{lid}"] = {"status": hs.udp_pool_status(members) if running else hs.DOWN,
                                              "members": members}

    def _config_hash(self, lb_ids: list[str]) -> str | None:
        """md5 of the applied haproxy.cfg. An amphora serves one load balancer; should there be several, the
        first id's file speaks for the amphora."""
        for lb_id in lb_ids:
            digest = md5_file(self.haproxy.config_path(lb_id))
            if digest is not None:
                return digest
        return None

    # -- sequence number -----------------------------------------------------------------------------------

    def _read_seq(self) -> int:
        try:
            value = int(self.seq_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0
        return max(value, 0)

    def _take_seq(self) -> int:
        seq = self.seq
        self.seq += 1
        # Saved before the beat leaves, so a restart never sends the same number twice.
        tmp = self.seq_file.with_name(self.seq_file.name + ".tmp")
        try:
            tmp.write_text(f"{self.seq}\n")
            os.replace(tmp, self.seq_file)
        except OSError as exc:
            LOG.warning("amp=%s heartbeat seq not saved: %s", self.s.amphora_id, exc)
        return seq

    # -- sending -------------------------------------------------------------------------------------------

    def _send(self, packet: bytes) -> None:
        target = self.targets[self._next_target % len(self.targets)]
        self._next_target = (self._next_target + 1) % len(self.targets)
        try:
            target.send(packet)
        except OSError as exc:
            now = time.monotonic()
            if now - target.last_error_log >= ERROR_LOG_PERIOD:
                target.last_error_log = now
                LOG.error("amp=%s heartbeat to %s failed: %s (next report of this target in %ds at most)",
                          self.s.amphora_id, target.text, exc, int(ERROR_LOG_PERIOD))
            if not isinstance(exc, ConnectionRefusedError):
                target.close()  # no route, address gone...: connect afresh next time


def md5_file(path: Path) -> str | None:
    try:
        return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    except OSError:
        return None
