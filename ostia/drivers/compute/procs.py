"""Finding an amphora's processes through /proc (Linux), for the local compute driver.

Reading pid files, liveness and stopping: ostia.process. Pids are only trusted after a look at /proc: a pid
file can outlive its process and the number can be reused by an unrelated one, so callers match a process by
what its command line mentions.
"""

from __future__ import annotations

import os

from ostia.process import alive, cmdline, stat_fields


def session_id(pid: int) -> int | None:
    fields = stat_fields(pid)
    return int(fields[3]) if fields else None  # state, ppid, pgrp, session


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
    return {pid for pid in all_pids() if pid != me and alive(pid) and mentions(pid, directory)}


def pids_in_session(sid: int) -> set[int]:
    return {pid for pid in all_pids() if pid != sid and alive(pid) and session_id(pid) == sid}
