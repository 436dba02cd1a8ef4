"""Benchmark members served by HAProxy itself (not Python, which would be the bottleneck): one HAProxy process
whose frontends each answer 200 with their own name, and helpers to run wrk and read its figures."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator

HAPROXY = "haproxy"


@contextlib.contextmanager
def haproxy(config: str) -> Iterator[None]:
    """A foreground HAProxy on `config` (global/defaults are added), stopped afterwards."""
    text = ("global\n    maxconn 4000\n\ndefaults\n    mode http\n    timeout connect 5s\n"
            "    timeout client 30s\n    timeout server 30s\n\n" + config)
    with tempfile.TemporaryDirectory(prefix="ostia-bench-haproxy-") as tmp:
        path = os.path.join(tmp, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(text)
        subprocess.run([HAPROXY, "-c", "-q", "-f", path], check=True)
        proc = subprocess.Popen([HAPROXY, "-db", "-f", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            if proc.poll() is not None:
                raise RuntimeError(f"haproxy exited {proc.returncode} on\n{text}")
            yield
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)


def members_config(members: list[tuple[str, str, int]]) -> str:
    """(name, address, port) → frontends answering `name`."""
    return "".join(f"frontend {name}\n    bind {addr}:{port}\n"
                   f"    http-request return status 200 content-type text/plain string {name}\n\n"
                   for name, addr, port in members)


@contextlib.contextmanager
def members(spec: list[tuple[str, str, int]]) -> Iterator[None]:
    with haproxy(members_config(spec)):
        yield


def wrk(url: str, seconds: int = 10, connections: int = 50, threads: int = 2) -> tuple[float, float]:
    """(requests/s, p99 ms) from one wrk run."""
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert p99 is not None, out
    factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or non2xx:
        print(f"  wrk on {url}: {errors.group(0) if errors else ''} {non2xx.group(0) if non2xx else ''}")
    return rps, float(p99.group(1)) * factor
