"""Finding and stopping processes through /proc (Linux), for the local compute driver.

Pids are only trusted after a look at /proc: a pid file can outlive its process and the number can be
reused by an unrelated one, so callers match a process by what its command line mentions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

_POLL = 0.05


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid > 1 else None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may itself contain spaces or parens)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()


def is_running(pid: int) -> bool:
    """Exists and is not a zombie (a dead child its parent has not reaped yet still has a /proc entry)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X", "x")


def session_id(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[3]) if fields else None  # state, ppid, pgrp, session


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _mentions(args: list[str], directory: str) -> bool:
    inside = directory.rstrip("/") + "/"
    return any(a == directory or inside in a or a.endswith(directory) for a in args)


def mentions(pid: int, directory: str) -> bool:
    """Whether the process's command line names `directory` or a path inside it."""
    return _mentions(cmdline(pid), directory)


def cwd_inside(pid: int, directory: str) -> bool:
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return cwd == directory or cwd.startswith(directory.rstrip("/") + "/")


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def pids_mentioning(directory: str) -> set[int]:
    me = os.getpid()
    return {pid for pid in all_pids() if pid != me and is_running(pid) and mentions(pid, directory)}


def pids_in_session(sid: int) -> set[int]:
    return {pid for pid in all_pids() if pid != sid and is_running(pid) and session_id(pid) == sid}


def _signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    alive = {p for p in pids if is_running(p)}
    while alive and time.monotonic() < deadline:
        time.sleep(_POLL)
        alive = {p for p in alive if is_running(p)}
    return alive


def terminate(pids: Iterable[int], timeout: float) -> set[int]:
    """SIGTERM, then SIGKILL whatever is still running after `timeout`; returns pids that survived even that."""
    targets = {p for p in pids if is_running(p)}
    if not targets:
        return set()
    _signal(targets, signal.SIGTERM)
    left = _wait_gone(targets, timeout)
    if left:
        _signal(left, signal.SIGKILL)
        left = _wait_gone(left, 5.0)
    return left
