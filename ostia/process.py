"""Pids through /proc (Linux): reading pid files, telling a live process from a zombie, stopping processes.

Shared by the agent and the local compute driver; imports nothing of ostia. A pid is only trusted after a look
at /proc: a pid file can outlive its process and the number can be reused by an unrelated one, so callers also
check what the command line mentions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

_POLL = 0.05
_KILL_WAIT = 5.0  # seconds to wait after SIGKILL; only an uninterruptible sleep (D state) takes longer


def read_pid(path: Path) -> int | None:
    """The pid a pid file names, or None. 0, 1 and negatives are refused: os.kill would hit a process group,
    init or everything."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid > 1 else None


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may itself contain spaces or parens):
    state, ppid, pgrp, session, ...; None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()


def alive(pid: int) -> bool:
    """Exists and is not a zombie (a dead child its parent has not reaped yet still has a /proc entry)."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X", "x")


def cmdline(pid: int) -> list[str]:
    """The process's arguments ([] when it is gone or a kernel thread)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(_POLL)
        left = {p for p in left if alive(p)}
    return left


def terminate(pids: Iterable[int], timeout: float) -> set[int]:
    """SIGTERM, then SIGKILL whatever still runs after `timeout` seconds; returns the pids that survived even
    that (empty: all gone)."""
    targets = {p for p in pids if alive(p)}
    if not targets:
        return set()
    _signal(targets, signal.SIGTERM)
    left = _wait_gone(targets, timeout)
    if left:
        _signal(left, signal.SIGKILL)
        left = _wait_gone(left, _KILL_WAIT)
    return left
