"""Start a real `ostia up` on a free loopback port for a benchmark, and stop it afterwards."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

sys.path.insert(0, ROOT)  # the process helpers are shared with the test suite
from ostia.drivers.compute.local import delete_all  # noqa: E402
from tests.support.processes import free_port, stop, wait_http  # noqa: E402

OSTIA = os.path.join(os.path.dirname(sys.executable), "ostia")


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
            wait_http(url + "/", proc, Path(log.name))
            yield url
        finally:
            stop(proc)
            delete_all(os.path.join(state, "amphorae"))  # amphorae outlive `ostia up` on purpose
            log.close()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
