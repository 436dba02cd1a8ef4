"""Start a real `ostia up` on a free loopback port for a benchmark, and stop it afterwards."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OSTIA = os.path.join(os.path.dirname(sys.executable), "ostia")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def ostia_up(*settings: str) -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="ostia-bench-") as state:
        args = [OSTIA, "--state-dir", state, "--set", f"api_settings.bind_port={port}"]
        for s in settings:
            args += ["--set", s]
        log = open(os.path.join(state, "ostia.log"), "w")  # noqa: SIM115 - closed below
        proc = subprocess.Popen([*args, "up"], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    with open(log.name) as out:
                        raise RuntimeError("ostia up did not start: " + out.read()[-2000:])
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
