"""Certificate rotation cost on real amphorae (loopback, local compute, real agents).

One `ostia up` keeps N spare amphorae booted (READY, agent running). Then, as an operator would:
  1. `ostia ca advance` with a cert_expiry_buffer longer than the certificates' life: every amphora's server
     certificate is rotated (CA bundle + certificate PUT to each agent, expiry recorded);
  2. `ostia ca rotate --grace 0`: a new CA, every agent moved to it (bundle old + new, certificate from the new
     CA), the controller's client certificate re-issued;
  3. `ostia ca advance`: the grace period is over, every agent told to trust the new CA alone.
Prints the seconds each rotation took inside the command (process start-up excluded), per amphora, and the
ratio CA rotation ÷ server certificate rotation.

    .venv/bin/python bench/cert_rotation.py [--amphorae 10]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import OSTIA, ostia_up  # noqa: E402


def ready_amphorae(url: str) -> int:
    with urllib.request.urlopen(url + "/v2/octavia/amphorae", timeout=10) as resp:  # noqa: S310 - loopback
        return sum(a["status"] == "READY" for a in json.load(resp)["amphorae"])


def ostia_ca(settings: list[str], *args: str) -> str:
    argv = [OSTIA]
    for item in settings:
        argv += ["--set", item]
    done = subprocess.run([*argv, "ca", *args], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ostia ca {' '.join(args)}: {done.stdout}\n{done.stderr}")
    return done.stdout


def seconds(pattern: str, out: str) -> tuple[int, float]:
    match = re.search(pattern, out)
    if match is None:
        raise RuntimeError(f"unexpected output: {out}")
    return int(match.group(1)), float(match.group(2))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--amphorae", type=int, default=10)
    n = parser.parse_args(argv).amphorae
    net = random.randrange(100, 250)
    with tempfile.TemporaryDirectory(prefix="ostia-bench-certs-") as shared:
        # The CA and the database where `ostia ca` finds them too.
        settings = [f"networking.networks=public:public-subnet:127.{net}.1.0/24,private:private-subnet:"
                    f"127.{net}.2.0/24", f"local_compute.mgmt_cidr=127.{net}.3.0/24",
                    f"certificates.ca_dir={shared}/ca", f"database.connection=sqlite:///{shared}/ostia.sqlite"]
        with ostia_up(*settings, f"house_keeping.spare_amphora_pool_size={n}") as url:
            deadline = time.monotonic() + 60 + 10 * n
            while ready_amphorae(url) < n:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"fewer than {n} READY amphorae after waiting")
                time.sleep(0.5)
            due = [*settings, f"house_keeping.cert_expiry_buffer={10 * 365 * 86400}"]
            rotated, server_s = seconds(r"(\d+) amphora server certificates rotated in ([\d.]+)s",
                                        ostia_ca(due, "advance"))
            moved, ca_s = seconds(r"(\d+) amphorae updated in ([\d.]+)s", ostia_ca(settings, "rotate", "--grace", "0"))
            finished = "rotation phase none" in ostia_ca(settings, "advance")
    figures = {"amphorae": n, "server_certs_rotated": rotated, "server_rotation_s": round(server_s, 3),
               "server_rotation_per_amphora_s": round(server_s / max(rotated, 1), 4),
               "ca_rotation_amphorae": moved, "ca_rotation_s": round(ca_s, 3),
               "ca_rotation_per_amphora_s": round(ca_s / max(moved, 1), 4), "old_ca_dropped": finished,
               "ca_rotation_over_server_rotation": round(ca_s / server_s, 2) if server_s else None}
    for key, value in figures.items():
        print(f"{key}: {value}")
    return figures


if __name__ == "__main__":
    main()
