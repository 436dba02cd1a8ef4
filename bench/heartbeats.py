"""Heartbeat throughput of ONE health-manager process on PostgreSQL.

A throw-away PostgreSQL database gets --amphorae amphorae, each with its own load balancer (2 listeners, 2 pools
of 2 members). For each target rate (ascending), a fresh `ostia health-manager` process is started and a sender
process signs (the real codec, pre-encoded so the sender is never the bottleneck) and sends heartbeats round-robin
over the amphorae at that rate for --seconds; 1% of the beats flip a member DOWN/UP so status writes happen too.
A round passes when every datagram sent was accepted (sent == accepted, no kernel drops in /proc/net/udp, no
replays/overflow/db errors, no beat too old to refresh health). Prints hb/s and batch commit latency per round,
then the highest rate that passed. Stops at the first failing rate.

    .venv/bin/python bench/heartbeats.py [--amphorae 2000] [--rates 5000,10000,15000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from ostia import heartbeat  # noqa: E402
from tests.support.processes import free_udp_port, stop  # noqa: E402

KEY = "bench-heartbeat-key"
OSTIA = Path(sys.executable).parent / "ostia"
METRICS = "health-manager metrics: "


# -- the database ------------------------------------------------------------------------------------------
def populate(url: str, n: int) -> list[dict[str, Any]]:
    """Rows for n amphorae; returns each amphora's tree (ids) for the sender."""
    from sqlalchemy import insert

    from ostia.db import migrate
    from ostia.db.engine import Database, make_engine
    from ostia.db.models import Amphora, Listener, LoadBalancer, Member, Pool

    engine = make_engine(url)
    migrate.upgrade(engine)
    trees, lbs, amps, listeners, pools, members = [], [], [], [], [], []
    for i in range(n):
        lb = str(uuid.uuid4())
        lbs.append({"id": lb, "provisioning_status": "ACTIVE", "operating_status": "OFFLINE", "project_id": "bench",
                    "topology": "SINGLE", "provider": "amphora", "vip_address": f"10.{i // 250}.{i % 250}.1"})
        amp = str(uuid.uuid4())
        amps.append({"id": amp, "load_balancer_id": lb, "status": "ALLOCATED", "role": "STANDALONE"})
        tree: dict[str, Any] = {"id": amp, "listeners": [], "pools": []}
        for j in range(2):
            lid, pid = str(uuid.uuid4()), str(uuid.uuid4())
            pools.append({"id": pid, "load_balancer_id": lb, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                          "provisioning_status": "ACTIVE", "operating_status": "OFFLINE"})
            listeners.append({"id": lid, "load_balancer_id": lb, "protocol": "HTTP", "protocol_port": 80 + j,
                              "default_pool_id": pid, "provisioning_status": "ACTIVE", "operating_status": "OFFLINE"})
            mids = [str(uuid.uuid4()) for _ in range(2)]
            members += [{"id": m, "pool_id": pid, "address": f"10.9.{j}.{k}", "protocol_port": 80,
                         "provisioning_status": "ACTIVE", "operating_status": "OFFLINE"} for k, m in enumerate(mids)]
            tree["listeners"].append(lid)
            tree["pools"].append((pid, lid, mids))
        trees.append(tree)
    db = Database(engine)
    with db.session() as s:
        for model, rows in ((LoadBalancer, lbs), (Pool, pools), (Listener, listeners), (Member, members),
                            (Amphora, amps)):
            for k in range(0, len(rows), 2000):
                s.execute(insert(model), rows[k:k + 2000])
    engine.dispose()
    return trees


# -- the sender (its own process) --------------------------------------------------------------------------
def message(tree: dict[str, Any], seq: int, flip: bool) -> dict[str, Any]:
    stats = {"tx": 1500, "rx": 300, "conns": 2, "totconns": 3, "ereq": 0}
    pools = {}
    for n, (pid, lid, mids) in enumerate(tree["pools"]):
        pools[f"{pid}:{lid}"] = {"status": "UP", "members": {m: "DOWN" if flip and n == 0 and k == 0 else "UP"
                                                             for k, m in enumerate(mids)}}
    return {"id": tree["id"], "seq": seq, "ver": 3, "config_hash": "0" * 32,
            "listeners": {lid: {"status": "OPEN", "stats": stats} for lid in tree["listeners"]}, "pools": pools}


def send(args: argparse.Namespace) -> int:
    trees = json.loads(Path(args.trees).read_text())
    total = int(args.rate * args.seconds)
    rng = random.Random(args.seq_base)
    packets = [heartbeat.encode(message(trees[i % len(trees)], args.seq_base + i // len(trees),
                                        rng.random() < 0.01), KEY) for i in range(total)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", args.port)
    per_tick = max(1, args.rate // 1000)  # packets per ~1 ms tick
    tick = per_tick / args.rate
    start = time.monotonic()
    sent = 0
    for k in range(0, total, per_tick):
        due = start + (k // per_tick) * tick
        ahead = due - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        for packet in packets[k:k + per_tick]:
            sock.sendto(packet, target)
            sent += 1
    elapsed = time.monotonic() - start
    print(json.dumps({"sent": sent, "seconds": round(elapsed, 3), "bytes": sum(map(len, packets)) // total}))
    return 0


# -- one round ---------------------------------------------------------------------------------------------
class HealthManagerProcess:
    def __init__(self, url: str, state: str, port: int) -> None:
        self.proc = subprocess.Popen(
            [str(OSTIA), "--state-dir", state, "--set", f"database.connection={url}",
             "--set", f"health_manager.bind_port={port}", "--set", f"health_manager.heartbeat_key={KEY}",
             "health-manager"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.metrics_seen = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(30):
            self.stop()
            raise RuntimeError("health-manager did not start:\n" + "".join(self.lines[-20:]))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.metrics_seen:
                self.lines.append(line)
                self.metrics_seen.notify_all()
            if "heartbeats on udp" in line:
                self.ready.set()

    def metrics(self) -> dict[str, Any]:
        with self.metrics_seen:
            seen = len(self.lines)
            self.proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                for line in self.lines[seen:]:
                    if line.startswith(METRICS):
                        return dict(json.loads(line[len(METRICS):]))
                self.metrics_seen.wait(0.5)
        raise RuntimeError("no metrics from the health-manager")

    def cpu_seconds(self) -> float:
        """user + system CPU time of the health-manager process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        stop(self.proc, 30)


def one_round(url: str, state: str, trees_file: str, rate: int, seconds: float, seq_base: int) -> dict[str, Any]:
    port = free_udp_port()
    hm = HealthManagerProcess(url, state, port)
    try:
        cpu_before, wall_before = hm.cpu_seconds(), time.monotonic()
        out = subprocess.run([sys.executable, __file__, "--send", "--trees", trees_file, "--port", str(port),
                              "--rate", str(rate), "--seconds", str(seconds), "--seq-base", str(seq_base)],
                             check=True, capture_output=True, text=True, timeout=seconds * 6 + 120)
        sender = json.loads(out.stdout.strip().splitlines()[-1])
        deadline = time.monotonic() + 60  # let the queue drain, bounded
        m = hm.metrics()
        while time.monotonic() < deadline and (m["queue_depth"] or m["packets"] + m["kernel_drops"] < sender["sent"]):
            time.sleep(0.2)
            m = hm.metrics()
        time.sleep(0.3)
        m = hm.metrics()
        cpu = hm.cpu_seconds() - cpu_before
        wall = time.monotonic() - wall_before
    finally:
        hm.stop()
    lost = sender["sent"] - m["accepted"]
    problems = {k: m[k] for k in ("kernel_drops", "replayed", "overflow", "db_errors", "too_slow", "bad_signature",
                                  "undecodable", "unknown_amphora", "listener_count_mismatch") if m.get(k)}
    return {"rate": rate, "achieved_hbps": round(sender["sent"] / sender["seconds"]), "sent": sender["sent"],
            "accepted": m["accepted"], "lost": lost, "problems": problems, "batches": m["batches"],
            "batch_p50_ms": round(1000 * m.get("batch_seconds_p50", 0), 1),
            "batch_p99_ms": round(1000 * m.get("batch_seconds_p99", 0), 1),
            "batch_max_ms": round(1000 * m.get("batch_seconds_max", 0), 1),
            "batch_size_mean": m.get("batch_size_mean"), "packet_bytes": sender["bytes"],
            "tree_cache_hit_pct": round(100 * m.get("tree_cache_hits", 0)
                                        / max(1, m.get("tree_cache_hits", 0) + m.get("tree_cache_misses", 0)), 1),
            "hm_cpu_s": round(cpu, 1), "round_wall_s": round(wall, 1),
            "ok": lost == 0 and not problems}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--amphorae", type=int, default=2000)
    p.add_argument("--rates", default="5000,10000,15000")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--send", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--trees", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--rate", type=int, help=argparse.SUPPRESS)
    p.add_argument("--seq-base", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.send:  # the sender subprocess
        send(args)
        return {}
    from tests.support.databases import fresh_database

    best = 0
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as state, fresh_database("postgresql", state) as url:
        started = time.monotonic()
        trees = populate(url, args.amphorae)
        print(f"{args.amphorae} amphorae/LBs (2 listeners, 2 pools, 4 members each) in "
              f"{time.monotonic() - started:.1f}s", flush=True)
        trees_file = os.path.join(state, "trees.json")
        Path(trees_file).write_text(json.dumps(trees))
        for n, rate in enumerate(int(r) for r in args.rates.split(",")):
            r = one_round(url, state, trees_file, rate, args.seconds, seq_base=(n + 1) * 1_000_000)
            print(json.dumps(r), flush=True)
            rounds.append(r)
            if not r["ok"]:
                break
            best = max(best, r["achieved_hbps"])
    print(f"highest rate with 0 dropped: {best} hb/s (one health-manager process, PostgreSQL, "
          f"{args.amphorae} amphorae)")
    return {"amphorae": args.amphorae, "best_hbps_with_0_dropped": best, "rounds": rounds}


if __name__ == "__main__":
    main()
