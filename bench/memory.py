"""Memory of an idle `ostia up` and of each amphora it runs (local compute: every amphora is its own processes).

Starts `ostia up` (as root on the netns network driver, so ACTIVE_STANDBY with keepalived can be measured too;
otherwise on loopback, SINGLE only), waits until its RSS stops moving and the spare amphora is READY, and prints
the RSS, PSS and USS (private pages) of the `ostia up` process. Then, per topology, it creates --lbs load
balancers (HTTP listener and an empty pool, so HAProxy runs) and prints
  - growth: (RSS/PSS of `ostia up` + every amphora process) after − before, ÷ the amphorae created;
  - per amphora: the mean RSS/PSS of one allocated amphora's processes (agent, HAProxy master + worker,
    keepalived), and which process kind holds how much.
RSS counts pages shared between processes (Python's libraries, HAProxy master/worker) once per process, PSS
splits them: PSS sums are the fair total.

    .venv/bin/python bench/memory.py [--lbs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.e2e.conftest import OstiaServer, ostia_up  # noqa: E402
from tests.support.failover import (  # noqa: E402
    allocated_amphorae,
    amphora_pids,
    create_http_lb,
    delete_lb,
    ha_flavor,
    netns_stack,
    subnet_ids,
    wait_for,
)

PROJECT = "bench-memory"
MIB = 1024.0


def memory_kib(pid: int) -> dict[str, int]:
    """Rss, Pss and Uss (Private_Clean + Private_Dirty) of one process, KiB; zeros if it is gone."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                fields[name] = int(rest.split()[0])
    except (OSError, ValueError):
        return {"rss": 0, "pss": 0, "uss": 0}
    return {"rss": fields.get("Rss", 0), "pss": fields.get("Pss", 0),
            "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}


def total_kib(pids: list[int]) -> dict[str, int]:
    out = {"rss": 0, "pss": 0, "uss": 0}
    for pid in pids:
        for key, value in memory_kib(pid).items():
            out[key] += value
    return out


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def amphora_dirs(server: OstiaServer) -> list[Path]:
    root = server.state_dir / "amphorae"
    return [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []


def everything(server: OstiaServer) -> list[int]:
    """`ostia up` and the processes of every amphora it has."""
    pids = [server.process.pid]
    for amp_dir in amphora_dirs(server):
        pids += amphora_pids(amp_dir, agent=True, keepalived=True)
    return pids


def settle(pids: Any, limit: float = 60.0) -> None:
    """Until the summed RSS moves less than 1% over 3 s (bounded: start-up imports, the first spare)."""
    deadline, last = time.monotonic() + limit, -1.0
    while time.monotonic() < deadline:
        now = float(total_kib(pids())["rss"])
        if last > 0 and abs(now - last) < 0.01 * last:
            return
        last = now
        time.sleep(3)


def spare_ready(server: OstiaServer) -> bool:
    return any(a["status"] == "READY" for a in server.get_json("/v2/octavia/amphorae")["amphorae"])


def mib(kib: float) -> float:
    return round(kib / MIB, 1)


@contextlib.contextmanager
def server_for(state: Path, root: bool) -> Iterator[OstiaServer]:
    if root:
        with netns_stack(state) as (server, _hosts):
            yield server
    else:
        with ostia_up(state) as server:
            yield server


def measure_topology(server: OstiaServer, topology: str, lbs: int, flavor_id: str | None) -> dict[str, Any]:
    subnets = subnet_ids(server)
    wait_for(lambda: spare_ready(server), 120, "a READY spare amphora")
    settle(lambda: everything(server))
    before = total_kib(everything(server))
    made = []
    try:
        for i in range(lbs):
            made.append(create_http_lb(server, subnets, [], PROJECT, f"mem-{topology.lower()}-{i}",
                                       flavor_id=flavor_id)["id"])
        wait_for(lambda: spare_ready(server), 120, "the spare pool refilled")
        settle(lambda: everything(server))
        after = total_kib(everything(server))
        amps = [a for lb_id in made for a in allocated_amphorae(server, lb_id)]
        per_amp: list[dict[str, int]] = []
        kinds: dict[str, int] = {}
        for amp in amps:
            pids = amphora_pids(server.state_dir / "amphorae" / amp["id"], agent=True, keepalived=True)
            per_amp.append(total_kib(pids))
            for pid in pids:
                kind = "agent" if comm(pid).startswith(("ostia", "python")) else comm(pid)
                kinds[kind] = kinds.get(kind, 0) + memory_kib(pid)["pss"]
    finally:
        for lb_id in made:
            delete_lb(server, lb_id, PROJECT)
    n = len(amps)
    return {"amphorae": n,
            "growth_rss_mib": mib((after["rss"] - before["rss"]) / n),
            "growth_pss_mib": mib((after["pss"] - before["pss"]) / n),
            "amphora_rss_mib": mib(sum(a["rss"] for a in per_amp) / n),
            "amphora_pss_mib": mib(sum(a["pss"] for a in per_amp) / n),
            "amphora_uss_mib": mib(sum(a["uss"] for a in per_amp) / n),
            "pss_by_process_mib": {k: mib(v / n) for k, v in sorted(kinds.items())}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lbs", type=int, default=5, help="load balancers per topology (1-50)")
    args = parser.parse_args(argv)
    lbs = max(1, min(args.lbs, 50))
    root = os.geteuid() == 0
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ostia-bench-memory-") as state, server_for(Path(state), root) as server:
        pid = server.process.pid
        started = time.monotonic()
        wait_for(lambda: spare_ready(server), 120, "a READY spare amphora")
        settle(lambda: [pid])
        idle = memory_kib(pid)
        spare = total_kib([p for d in amphora_dirs(server) for p in amphora_pids(d, agent=True, keepalived=True)])
        figures["idle_ostia_up"] = {"rss_mib": mib(idle["rss"]), "pss_mib": mib(idle["pss"]),
                                    "uss_mib": mib(idle["uss"]), "settled_after_s": round(time.monotonic()
                                                                                          - started, 1)}
        figures["idle_spare_amphora_rss_mib"] = mib(spare["rss"])
        print(f"idle `ostia up` ({'netns' if root else 'loopback'} network driver): RSS {mib(idle['rss'])} MiB, "
              f"PSS {mib(idle['pss'])} MiB, USS {mib(idle['uss'])} MiB; its spare amphora (agent only): "
              f"RSS {mib(spare['rss'])} MiB", flush=True)
        topologies = {"SINGLE": None, "ACTIVE_STANDBY": ha_flavor(server) if root else None}
        for topology, flavor_id in topologies.items():
            if topology == "ACTIVE_STANDBY" and not root:
                print("ACTIVE_STANDBY: skipped (needs root: network namespaces, keepalived)")
                continue
            r = measure_topology(server, topology, lbs, flavor_id)
            figures[topology] = r
            print(f"{topology:<14} per amphora ({r['amphorae']} amphorae, {lbs} LBs): growth RSS "
                  f"{r['growth_rss_mib']} MiB, PSS {r['growth_pss_mib']} MiB; one amphora's processes RSS "
                  f"{r['amphora_rss_mib']} MiB, PSS {r['amphora_pss_mib']} MiB, USS {r['amphora_uss_mib']} MiB; "
                  f"PSS by process {r['pss_by_process_mib']}", flush=True)
    single = figures["SINGLE"]
    figures["ratio_amphora_pss_to_idle_ostia_up_pss"] = round(single["amphora_pss_mib"]
                                                              / max(figures["idle_ostia_up"]["pss_mib"], 0.1), 2)
    print(f"ratio one SINGLE amphora PSS ÷ idle `ostia up` PSS: {figures['ratio_amphora_pss_to_idle_ostia_up_pss']}")
    return figures


if __name__ == "__main__":
    main()
