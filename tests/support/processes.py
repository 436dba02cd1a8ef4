"""Servers the tests and benchmarks start as subprocesses: a free port, waiting for HTTP, stopping."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Until `url` answers without a server error; fails early, with the log's tail, if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout}s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


# The suite's API-level tests run on the noop drivers (no amphorae); data-plane tests choose the real ones.
NOOP_DRIVERS: dict[str, object] = {"compute_driver": "noop", "network_driver": "noop", "amphora_driver": "noop"}
# `--set` values for an `ostia up` on them; no spare pool, whose rows would show in the amphora listings
NOOP_SETTINGS = [f"controller_worker.{name}={value}" for name, value in NOOP_DRIVERS.items()]
NOOP_SETTINGS.append("house_keeping.spare_amphora_pool_size=0")
NOOP_ARGS = [arg for setting in NOOP_SETTINGS for arg in ("--set", setting)]
