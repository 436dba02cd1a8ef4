"""Host facts for /info and /details, read from /proc and the tools' version output (cached)."""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

from ostia.agent import procs


@functools.lru_cache(maxsize=4)
def keepalived_version(cmd: str = "keepalived") -> str | None:
    out = procs.run([cmd, "-v"], timeout=10)  # "Keepalived v2.2.7 (01/16,2022)", printed on stderr
    words = out.output.split()
    return words[1].lstrip("v") if out.ok and len(words) > 1 else None


def hostname() -> str:
    return socket.gethostname()


def memory_kb() -> dict[str, int]:
    wanted = {"MemTotal": "total", "MemFree": "free", "Buffers": "buffers", "Cached": "cached", "Shmem": "shared",
              "Slab": "slab", "SwapTotal": "swap_total", "SwapFree": "swap_free"}
    mem = dict.fromkeys(wanted.values(), 0)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in wanted:
                    mem[wanted[key]] = int(rest.split()[0])
    except OSError:
        pass
    mem["swap_used"] = mem.pop("swap_total") - mem.pop("swap_free")
    return mem


def cpu() -> dict[str, int]:
    """Jiffies since boot from /proc/stat's `cpu` line, the fields Octavia's /details shows."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        fields = []
    fields += [0] * (7 - len(fields))
    return {"total": sum(fields), "user": fields[0], "system": fields[2], "soft_irq": fields[6]}


def disk(path: Path) -> dict[str, int]:
    """Bytes used and available on the file system holding `path`."""
    try:
        st = os.statvfs(path)
    except OSError:
        return {"used": 0, "available": 0}
    return {"used": (st.f_blocks - st.f_bfree) * st.f_frsize, "available": st.f_bavail * st.f_frsize}


def load() -> list[str]:
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[:3]
    except OSError:
        return ["0", "0", "0"]


def cpu_count() -> int:
    return os.cpu_count() or 1
