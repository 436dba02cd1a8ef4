"""Host facts for /info and /details, read from /proc and the tools' version output (cached)."""

from __future__ import annotations

import functools
import os
import socket

from ostia.agent import procs


@functools.lru_cache(maxsize=4)
def keepalived_version(cmd: str = "keepalived") -> str | None:
    out = procs.run([cmd, "-v"], timeout=10)  # "Keepalived v2.2.7 (01/16,2022)", printed on stderr
    words = out.output.split()
    return words[1].lstrip("v") if out.ok and len(words) > 1 else None


def hostname() -> str:
    return socket.gethostname()


def memory_kb() -> dict[str, int]:
    wanted = {"MemTotal": "total", "MemFree": "free", "Buffers": "buffers", "Cached": "cached"}
    mem = dict.fromkeys(wanted.values(), 0)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in wanted:
                    mem[wanted[key]] = int(rest.split()[0])
    except OSError:
        pass
    return mem


def load() -> list[str]:
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[:3]
    except OSError:
        return ["0", "0", "0"]


def cpu_count() -> int:
    return os.cpu_count() or 1
