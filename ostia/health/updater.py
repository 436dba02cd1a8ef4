"""The batched heartbeat updater: many beats, one transaction.

Per batch: coalesce the beats of each amphora (latest message for statuses, summed deltas for statistics), read
one row per amphora (plus the trees of load balancers that are not cached or whose cached tree is stale, see
treecache), drop beats the database already has newer sequence numbers for, then write amphora_health (multi-row
upsert), only the operating statuses that change (one UPDATE … WHERE id IN per table and status) and
listener_statistics (multi-row upsert adding the deltas). An amphora repeating the statuses it sent last needs
no roll-up at all: with a current tree, the result is what is already written.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.orm import Session

from ostia.db.engine import Database
from ostia.db.models import Listener, LoadBalancer, Member, Pool
from ostia.domain.enums import AmphoraStatus
from ostia.health import reads, sql
from ostia.health.receiver import Beat, Counters
from ostia.health.rollup import LbTree, Statuses, roll_up
from ostia.health.traffic import MemberKey, MemberTraffic
from ostia.health.treecache import CachedTree, TreeCache
from ostia.heartbeat import counter

LOG = logging.getLogger(__name__)

_RETRIES = 3


@dataclasses.dataclass
class BatchResult:
    beats: int = 0
    amphorae: int = 0
    status_writes: int = 0
    stat_rows: int = 0
    # counted only once the transaction commits, so a retried batch is not counted twice
    counts: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    member_stats: list[tuple[MemberKey, dict[str, Any]]] = dataclasses.field(default_factory=list)


def _status_part(message: dict[str, Any]) -> tuple[Any, ...]:
    """What of a beat the roll-up depends on (not the statistics, which change with every beat)."""
    listeners = message.get("listeners") or {}
    return ({k: v.get("status") if isinstance(v, dict) else v for k, v in listeners.items()},
            message.get("pools"))


class Updater:
    """Queue of verified beats drained by one thread into batched transactions."""

    def __init__(self, db: Database, counters: Counters, heartbeat_interval: float, *, batch_size: int = 500,
                 max_delay: float = 0.05, max_batch: int = 50_000, max_queue: int = 200_000) -> None:
        self.db = db
        self.counters = counters
        self.heartbeat_interval = heartbeat_interval
        self.batch_size, self.max_delay, self.max_batch, self.max_queue = batch_size, max_delay, max_batch, max_queue
        self._queue: collections.deque[Beat] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.RLock()
        self._in_flight = 0
        self._unknown_logged: set[str] = set()
        self.trees = TreeCache()
        self.traffic = MemberTraffic()
        self.commit_seconds: collections.deque[float] = collections.deque(maxlen=10_000)
        self.batch_sizes: collections.deque[int] = collections.deque(maxlen=10_000)

    # -- queue ------------------------------------------------------------------------------------------------
    def submit(self, beat: Beat) -> None:
        if len(self._queue) >= self.max_queue:
            self.counters.add("overflow")  # the database is far behind: shed load rather than grow without end
            return
        self._queue.append(beat)
        if len(self._queue) == self.batch_size:  # once per batch: Event.set() takes a lock, this runs per beat
            self._wake.set()

    @property
    def queue_depth(self) -> int:
        """Beats received and not yet written (queued, or in the batch being written)."""
        return len(self._queue) + self._in_flight

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hm-updater", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def flush(self) -> int:
        """Apply everything queued now, in the caller's thread (tests, shutdown); returns beats applied."""
        done = 0
        with self._busy:  # taking and applying under one lock: a caller's flush waits for a batch in flight
            while self._queue:
                batch = self._take()
                self._in_flight = len(batch)
                try:
                    done += self._apply_batch(batch)
                finally:
                    self._in_flight = 0
        return done

    def _take(self) -> list[Beat]:
        pop = self._queue.popleft  # one taker at a time (_busy): len() is a lower bound while beats arrive
        return [pop() for _ in range(min(len(self._queue), self.max_batch))]

    def _run(self) -> None:
        while True:
            self._wake.wait(self.max_delay)
            self._wake.clear()
            stopping = self._stop.is_set()
            try:
                self.flush()
            except Exception:
                LOG.exception("heartbeat batch failed")
            if stopping:
                return

    # -- one batch --------------------------------------------------------------------------------------------
    def _apply_batch(self, beats: list[Beat]) -> int:
        if not beats:
            return 0
        with self._busy:
            for attempt in range(_RETRIES):
                started = time.monotonic()
                try:
                    result = self._commit(beats)
                except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.InternalError) as err:
                    # Deadlocks with a failover flow or another health manager, a lost connection: retry whole.
                    LOG.warning("heartbeat batch of %d (attempt %d): %s", len(beats), attempt + 1, err.orig)
                    time.sleep(0.05 * 2**attempt)
                    continue
                except sa_exc.DBAPIError as err:
                    LOG.error("heartbeat batch of %d dropped: %s", len(beats), err.orig)
                    break
                self.commit_seconds.append(time.monotonic() - started)
                self.batch_sizes.append(len(beats))
                for name, n in result.counts.items():
                    self.counters.add(name, n)
                self.traffic.add(result.member_stats)
                self.counters.add("accepted", result.beats)
                self.counters.add("batches")
                return result.beats
            self.counters.add("db_errors", len(beats))
            return 0

    def _commit(self, beats: list[Beat]) -> BatchResult:
        try:
            with self.db.session() as session:
                return self.apply(session, beats)
        except BaseException:
            self.trees.clear()  # the cached statuses may be ones that were just rolled back
            raise

    def _current_trees(self, session: Session, amps: dict[str, reads.AmphoraState], lbs: dict[str, reads.LbRow],
                       now: float) -> dict[str, CachedTree]:
        """The batch's load balancers' trees: cached where still current, read (in three queries) otherwise."""
        seqs: dict[str, dict[str, int]] = collections.defaultdict(dict)
        for amp_id, state in amps.items():
            if state.load_balancer_id in lbs:
                seqs[state.load_balancer_id][amp_id] = state.db_seq
        out: dict[str, CachedTree] = {}
        stale: list[reads.LbRow] = []
        for lb_id, lb_seqs in seqs.items():
            entry = self.trees.get(lbs[lb_id], lb_seqs, now)
            if entry is None:
                stale.append(lbs[lb_id])
            else:
                out[lb_id] = entry
        for lb_id, tree in reads.trees(session.connection(), stale).items():
            out[lb_id] = self.trees.put(lbs[lb_id], tree, seqs[lb_id], now)
        return out

    def apply(self, session: Session, beats: list[Beat]) -> BatchResult:
        """Everything one batch writes, in the caller's transaction (a caller whose transaction fails must call
        `self.trees.clear()`; _commit does)."""
        dialect = session.get_bind().dialect.name
        now = time.monotonic()
        by_amp: dict[str, list[Beat]] = collections.defaultdict(list)
        for beat in beats:
            by_amp[beat.amphora_id].append(beat)
        if dialect == "postgresql":
            # psycopg prepares a statement from its 5th run on, and PostgreSQL then switches to a generic plan,
            # which cannot see how many ids a batch has: 6x slower for the amphorae read. Plan each one.
            session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        amps, lbs = reads.amphorae(session.connection(), list(by_amp))
        trees = self._current_trees(session, amps, lbs, now)
        result = BatchResult()

        # Replays the database knows about (a restarted or second health manager saw newer beats).
        kept: dict[str, list[Beat]] = {}
        for amp_id, group in by_amp.items():
            state = amps.get(amp_id)
            if state is None or state.status == AmphoraStatus.DELETED:
                result.counts["unknown_amphora"] += len(group)
                if amp_id not in self._unknown_logged and len(self._unknown_logged) < 4096:
                    self._unknown_logged.add(amp_id)
                    LOG.warning("heartbeat from unknown or deleted amp=%s (source %s) ignored", amp_id,
                                group[-1].source)
                continue
            fresh = sorted((b for b in group if b.seq > state.db_seq), key=lambda b: b.seq)
            if len(fresh) < len(group):
                result.counts["replayed"] += len(group) - len(fresh)
            if fresh:
                kept[amp_id] = fresh

        health_upserts: list[dict[str, Any]] = []
        health_updates: list[dict[str, Any]] = []
        seq_only: list[dict[str, Any]] = []
        stats: dict[tuple[str, str], dict[str, Any]] = {}
        current: dict[str, dict[str, str]] = {"lb": {}, "listener": {}, "pool": {}, "member": {}}
        target: dict[str, dict[str, str]] = {"lb": {}, "listener": {}, "pool": {}, "member": {}}
        rolled: list[tuple[CachedTree, Statuses]] = []
        # Statuses of amphorae sharing a load balancer (ACTIVE_STANDBY): the latest beat has the last word.
        for amp_id in sorted(kept, key=lambda a: kept[a][-1].recv_time):
            group, state = kept[amp_id], amps[amp_id]
            latest = group[-1]
            entry = trees.get(state.load_balancer_id or "")
            if state.load_balancer_id is not None and entry is None:
                result.counts["unknown_amphora"] += len(group)  # its LB is gone: a zombie on its way out
                continue
            result.beats += len(group)
            result.amphorae += 1
            refresh = True
            if entry is not None and not entry.listener_count_matches(latest.message):
                result.counts["listener_count_mismatch"] += 1
                LOG.warning("amp=%s lb=%s reported %d listeners, expected %s: health not refreshed",
                            amp_id, entry.tree.id, len(latest.message.get("listeners") or {}),
                            entry.expected_listeners)
                refresh = False
            if now - latest.recv_time >= self.heartbeat_interval:
                result.counts["too_slow"] += 1  # as Octavia: a beat this old says little about now
                refresh = False
            row = {"b_id": amp_id, "b_seq": latest.seq, "b_hash": latest.message.get("config_hash"),
                   "b_last": latest.received_at}
            if not refresh:
                seq_only.append(row)
            elif state.status == AmphoraStatus.PENDING_DELETE:
                health_updates.append(row)  # being deleted: keep a row fresh, never create one again
            else:
                health_upserts.append(row)
            if entry is None:
                continue  # a spare: nothing to roll up
            entry.seqs[amp_id] = latest.seq
            spoke = (amp_id, _status_part(latest.message))
            if entry.spoke_last != spoke:
                rolled.append((entry, self._roll_up(entry.tree, latest, current, target)))
                entry.spoke_last = spoke
            self._add_stats(stats, amp_id, entry.tree, group)
            self._add_member_stats(result.member_stats, entry.tree, group)

        for table in ("lb", "listener", "pool", "member"):
            result.status_writes += self._write_statuses(session, table, current[table], target[table])
        for entry, statuses in rolled:  # in roll-up order: the last one to speak wins, as in `target`
            entry.apply(statuses)
        sql.upsert_health(session, dialect, health_upserts)
        sql.update_health(session, dialect, health_updates, refresh=True)
        sql.update_health(session, dialect, seq_only, refresh=False)
        rows = sorted(stats.values(), key=lambda r: (r["listener_id"], r["amphora_id"]))
        sql.add_listener_stats(session, dialect, rows)
        result.stat_rows = len(rows)
        return result

    @staticmethod
    def _roll_up(tree: LbTree, beat: Beat, current: dict[str, dict[str, str]],
                 target: dict[str, dict[str, str]]) -> Statuses:
        statuses = roll_up(tree, beat.message)
        current["lb"].setdefault(tree.id, tree.operating_status)
        target["lb"][tree.id] = statuses.load_balancer
        for listener in tree.listeners.values():
            current["listener"].setdefault(listener.id, listener.operating_status)
        for pool in tree.pools.values():
            current["pool"].setdefault(pool.id, pool.operating_status)
            for member_id, status in pool.members.items():
                current["member"].setdefault(member_id, status)
        target["listener"].update(statuses.listeners)
        target["pool"].update(statuses.pools)
        target["member"].update(statuses.members)
        return statuses

    @staticmethod
    def _add_stats(stats: dict[tuple[str, str], dict[str, Any]], amp_id: str, tree: LbTree,
                   group: list[Beat]) -> None:
        # Only the load balancer's own listeners: a forged or stale id must not grow the table.
        for beat in group:
            for listener_id, report in (beat.message.get("listeners") or {}).items():
                if listener_id not in tree.listeners:
                    continue
                raw = report.get("stats") or {}
                if not isinstance(raw, dict):
                    continue
                row = stats.get((listener_id, amp_id))
                if row is None:
                    row = stats[listener_id, amp_id] = {
                        "listener_id": listener_id, "amphora_id": amp_id, "bytes_in": 0, "bytes_out": 0,
                        "total_connections": 0, "request_errors": 0, "active_connections": 0}
                row["bytes_in"] += counter(raw.get("rx", 0))
                row["bytes_out"] += counter(raw.get("tx", 0))
                row["total_connections"] += counter(raw.get("totconns", 0))
                row["request_errors"] += counter(raw.get("ereq", 0))
                row["active_connections"] = counter(raw.get("conns", 0))  # absolute: the latest beat wins

    @staticmethod
    def _add_member_stats(out: list[tuple[MemberKey, dict[str, Any]]], tree: LbTree, group: list[Beat]) -> None:
        # As for listeners: only the tree's own pools and members.
        for beat in group:
            for key, report in (beat.message.get("pools") or {}).items():
                member_stats = report.get("member_stats")
                pool_id, _, listener_id = key.partition(":")
                pool = tree.pools.get(pool_id)
                if pool is None or not isinstance(member_stats, dict):
                    continue
                for member_id, stats in member_stats.items():
                    if member_id in pool.members and isinstance(stats, dict):
                        out.append((MemberKey(tree.id, listener_id, pool_id, member_id), stats))

    @staticmethod
    def _write_statuses(session: Session, table: str, current: dict[str, str], target: dict[str, str]) -> int:
        model: Any = {"lb": LoadBalancer, "listener": Listener, "pool": Pool, "member": Member}[table]
        changes = {obj_id: status for obj_id, status in target.items()
                   if status != current.get(obj_id) and status.upper() != (current.get(obj_id) or "").upper()}
        sql.set_operating_statuses(session, model.__table__, changes)
        return len(changes)
