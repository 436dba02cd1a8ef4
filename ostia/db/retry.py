"""Retry of a whole transaction that the database chose as a deadlock victim.

Writers lock rows of one load balancer's tree in different orders (an API change marks the pool, then its
listeners; the health manager writes operating statuses table by table; a worker activates children, then the
LB), so PostgreSQL and MariaDB can pick any of them as the victim of a deadlock. The victim's transaction was
rolled back entirely, so running it again is safe, as Octavia does with oslo.db's retry_on_deadlock.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

LOG = logging.getLogger(__name__)
ATTEMPTS = 5
F = TypeVar("F", bound=Callable[..., Any])

_PG_DEADLOCK = "40P01"  # deadlock_detected
_MYSQL_DEADLOCK = 1213  # ER_LOCK_DEADLOCK


_thread = threading.local()


def track_writes(factory: sessionmaker[Session]) -> None:
    """Mark sessions of `factory` that wrote (ORM flush or a DML statement), so note_commit counts only
    commits that changed something (a read-only transaction commits too)."""

    def flushed(session: Session, _context: Any) -> None:
        session.info["wrote"] = True

    def executed(state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            state.session.info["wrote"] = True

    event.listen(factory, "after_flush", flushed)
    event.listen(factory, "do_orm_execute", executed)


def note_commit(session: Session) -> None:
    """Called by Database.session() after each commit: a retry must not repeat committed writes."""
    if session.info.pop("wrote", False):
        _thread.commits = getattr(_thread, "commits", 0) + 1


def _commits() -> int:
    return int(getattr(_thread, "commits", 0))


def is_deadlock(err: BaseException) -> bool:
    if not isinstance(err, sa_exc.DBAPIError):
        return False
    orig = err.orig
    if getattr(orig, "sqlstate", None) == _PG_DEADLOCK:
        return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    return bool(args) and args[0] == _MYSQL_DEADLOCK


def retry_on_deadlock(fn: F) -> F:
    """Run `fn` again (up to ATTEMPTS times, with a short random back-off) when its transaction was a
    deadlock victim, unless one of its transactions had already committed on this thread (an action of
    several transactions is then past the point of a clean repeat). `fn` must do nothing irreversible
    outside the database before its first commit."""
    if getattr(fn, "__retries_deadlocks__", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            committed = _commits()
            try:
                return fn(*args, **kwargs)
            except sa_exc.DBAPIError as err:
                if attempt == ATTEMPTS or not is_deadlock(err) or _commits() != committed:
                    raise
                LOG.warning("%s: deadlock victim (attempt %d), retrying", fn.__qualname__, attempt)
                time.sleep(random.uniform(0.01, 0.05) * attempt)
        raise AssertionError("unreachable")

    wrapper.__retries_deadlocks__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
