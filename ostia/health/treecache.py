"""Load balancer trees kept between heartbeat batches, and when to trust them.

Reading each beat's tree (listeners, pools, members and their operating statuses) cost nine rows per amphora per
batch, and almost always nothing in it had changed. A cached tree is used only while all of these hold:

- the load balancer row read in this batch has the version cached (reads.LbRow.version): API changes and flows
  move the LB through PENDING_* and set updated_at, so anything they change below it shows here;
- every amphora of the batch on that LB has the amphora_health.seq this process last knew for it: another health
  manager (amphorae send round-robin to all of them) that processed one of its beats may have written statuses
  the cache does not know about, and it also wrote a newer seq;
- it is younger than `max_age` (spread out so trees do not all expire in one batch): a backstop for writers
  none of the above sees.

The updater keeps the cached statuses equal to what it wrote, and clears the cache when a batch is rolled back.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from ostia.health.reads import LbRow
from ostia.health.rollup import LbTree, Statuses, expected_listener_count

MAX_AGE = 10.0


@dataclasses.dataclass(slots=True)
class CachedTree:
    tree: LbTree
    version: tuple[Any, ...]
    expires: float
    seqs: dict[str, int]  # amphora id -> the seq its health row has as far as this process knows
    expected_listeners: int | None  # rollup.expected_listener_count: nothing this process writes changes it
    # (amphora id, status part of its beat) whose roll-up the tree's statuses are: the same amphora sending the
    # same statuses again would change nothing, so its roll-up is skipped.
    spoke_last: tuple[str, Any] | None = None

    def listener_count_matches(self, message: dict[str, Any]) -> bool:
        """rollup.listener_count_matches, without counting the tree's enabled listeners for every beat."""
        return self.expected_listeners is None or len(message.get("listeners") or {}) == self.expected_listeners

    def apply(self, statuses: Statuses) -> None:
        """The statuses were written (in the batch's transaction): the cache follows."""
        tree = self.tree
        tree.operating_status = statuses.load_balancer
        self.version = (self.version[0], statuses.load_balancer, *self.version[2:])
        for listener_id, status in statuses.listeners.items():
            tree.listeners[listener_id].operating_status = status
        for pool_id, status in statuses.pools.items():
            tree.pools[pool_id].operating_status = status
        if statuses.members:
            for pool in tree.pools.values():
                for member_id in pool.members:
                    member_status = statuses.members.get(member_id)
                    if member_status is not None:
                        pool.members[member_id] = member_status


class TreeCache:
    def __init__(self, max_age: float = MAX_AGE) -> None:
        self.max_age = max_age
        self._entries: dict[str, CachedTree] = {}
        self._next_sweep = 0.0
        self.hits = self.misses = 0

    def get(self, lb: LbRow, seqs: dict[str, int], now: float) -> CachedTree | None:
        """The cached tree of `lb` if still current; `seqs`: the batch's amphorae on it -> their seq in the db."""
        entry = self._entries.get(lb.id)
        if entry is None or entry.version != lb.version or now >= entry.expires \
                or any(entry.seqs.get(amp_id) != seq for amp_id, seq in seqs.items()):
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def put(self, lb: LbRow, tree: LbTree, seqs: dict[str, int], now: float) -> CachedTree:
        old = self._entries.get(lb.id)
        # Seqs of its other amphorae (ACTIVE_STANDBY) are kept: a stale one only costs another read later.
        known = {**old.seqs, **seqs} if old is not None else dict(seqs)
        entry = CachedTree(tree, lb.version, now + self.max_age * random.uniform(0.5, 1.0), known,
                           expected_listener_count(tree))
        self._entries[lb.id] = entry
        if now >= self._next_sweep:  # forget load balancers no beat asked for lately (deleted, moved away)
            self._entries = {k: v for k, v in self._entries.items() if v.expires > now}
            self._entries[lb.id] = entry
            self._next_sweep = now + self.max_age
        return entry

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
