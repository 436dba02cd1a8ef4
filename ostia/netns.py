"""Entering a named network namespace from Python, one thread at a time (shared by the agent and the controller).

setns(CLONE_NEWNET) moves only the calling thread, so the rest of the process stays where it is. Sockets a
joined thread creates stay in the namespace after it leaves, so host code can talk to 198.18.x.x addresses
there without `ip netns exec` and without any host interface or route. (os.setns is Python 3.12+, hence ctypes.)
Imports nothing of ostia.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
RUN_TIMEOUT = 30.0  # seconds run_in waits for its thread; the work done there is socket setup, not serving

_libc: Any = None


def join(namespace: str) -> None:
    """Move the calling thread (only) into /run/netns/<namespace>; OSError if it is missing or setns fails."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(os.path.join(NETNS_DIR, namespace), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({namespace}): {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in(namespace: str, fn: Callable[..., T], *args: Any, timeout: float = RUN_TIMEOUT) -> T:
    """Run `fn(*args)` on a fresh thread that joined `namespace`; return its result or re-raise its error.

    The thread ends with `fn`, so nothing needs to switch back. TimeoutError when it has not finished after
    `timeout` seconds (it is a daemon thread, so a hung `fn` does not block interpreter exit).
    """
    outcome: dict[str, Any] = {}  # "value" or "error", set by the thread

    def target() -> None:
        try:
            join(namespace)
            outcome["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{namespace}", daemon=True)
    thread.start()
    thread.join(timeout)
    if "error" in outcome:
        raise outcome["error"]
    if "value" not in outcome:
        raise TimeoutError(f"{getattr(fn, '__name__', fn)!s} in netns {namespace} did not finish in {timeout}s")
    result: T = outcome["value"]
    return result
