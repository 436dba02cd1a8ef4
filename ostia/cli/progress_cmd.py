"""`ostia loadbalancer wait|failover` and `ostia member batch-create|batch-delete`: long work, watched.

Each talks to the API over HTTP (ostia/cli/api_client.py) and polls until the work is done. On a terminal
one live line is redrawn in place (a bar for bulk work); otherwise a plain line is printed whenever what it
says changes (elapsed time aside), so logs and tests read it line by line.

Exit codes: 0 done, 1 the work ended in ERROR or the API refused it, 124 the --timeout passed first (as
coreutils' `timeout`).
"""

from __future__ import annotations

import argparse
import collections
import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ostia.cli.api_client import ApiClient, ApiError, add_options

OK, FAILED, TIMED_OUT = 0, 1, 124
LB = "/v2/lbaas/loadbalancers/{}"
BAR_WIDTH = 30


class Display:
    """The live line on a terminal, plain lines elsewhere."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.started = time.monotonic()
        self._last = ""

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, text: str) -> None:
        if self.tty:
            self.out.write(f"\r{text} ({self.elapsed():.1f}s)\x1b[K")
            self.out.flush()
        elif text != self._last:
            print(f"[{self.elapsed():6.1f}s] {text}", file=self.out, flush=True)
        self._last = text

    def event(self, text: str) -> None:
        """A line that stays (a failover stage): printed above the live line."""
        if self.tty:
            self.out.write("\r\x1b[K")
        print(f"[{self.elapsed():6.1f}s] {text}", file=self.out, flush=True)
        if self.tty and self._last:
            self.update(self._last)

    def done(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[K")
        print(f"[{self.elapsed():6.1f}s] {text}", file=self.out, flush=True)


def bar(done: int, total: int) -> str:
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    return "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + f"] {done}/{total}"


def poll(display: Display, timeout: float, interval: float, step: Callable[[], int | None]) -> int:
    """Call `step` until it returns an exit code; TIMED_OUT after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        code = step()
        if code is not None:
            return code
        if time.monotonic() >= deadline:
            display.done(f"timed out after {timeout:g}s")
            return TIMED_OUT
        time.sleep(interval)


# -- loadbalancer wait ------------------------------------------------------------------------------------------

def child_counts(tree: dict[str, Any]) -> str:
    """'listeners 1/1 pools 1/1 members 2/3 ACTIVE' from a status tree."""
    lb = tree["statuses"]["loadbalancer"]
    listeners = lb.get("listeners", [])
    pools = {p["id"]: p for li in listeners for p in li.get("pools", [])}
    members = [m for p in pools.values() for m in p.get("members", [])]

    def count(rows: list[dict[str, Any]]) -> str:
        return f"{sum(r['provisioning_status'] == 'ACTIVE' for r in rows)}/{len(rows)}"

    return f"listeners {count(listeners)} pools {count(list(pools.values()))} members {count(members)} ACTIVE"


def lb_line(client: ApiClient, lb_id: str) -> tuple[dict[str, Any] | None, str]:
    body = client.get_or_none(LB.format(lb_id))
    if body is None:
        return None, f"loadbalancer {lb_id}: DELETED"
    lb = body["loadbalancer"]
    tree = client.get_or_none(LB.format(lb_id) + "/status")
    counts = f"  {child_counts(tree)}" if tree else ""
    return lb, f"loadbalancer {lb_id}: {lb['provisioning_status']}/{lb['operating_status']}{counts}"


def wait_lb(client: ApiClient, display: Display, lb_id: str, status: str, timeout: float, interval: float) -> int:
    """Until the LB's provisioning status is `status` (DELETED: gone)."""

    def step() -> int | None:
        lb, line = lb_line(client, lb_id)
        display.update(line)
        current = "DELETED" if lb is None else lb["provisioning_status"]
        if current == status:
            display.done(line)
            return OK
        if current in ("ERROR", "DELETED"):
            display.done(f"{line} (waited for {status})")
            return FAILED
        return None

    return poll(display, timeout, interval, step)


def cmd_lb_wait(args: argparse.Namespace) -> int:
    return _run(args, lambda client, display: wait_lb(client, display, args.id, args.status, args.timeout,
                                                      args.interval))


# -- loadbalancer failover --wait ---------------------------------------------------------------------------

def amphora_summary(client: ApiClient, lb_id: str) -> str:
    try:
        amps = client.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb_id}")["amphorae"]
    except ApiError:  # not admin in keystone mode: the amphorae stay out of the line
        return ""
    statuses = collections.Counter(amp["status"] for amp in amps)
    return "  amphorae " + (", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none")


def cmd_lb_failover(args: argparse.Namespace) -> int:
    def run(client: ApiClient, display: Display) -> int:
        timeline = LB.format(args.id) + "/failover_timeline"
        seen = len(client.call("GET", timeline)["failover_timeline"])
        client.call("PUT", LB.format(args.id) + "/failover", ok=(202,))
        display.event(f"failover of loadbalancer {args.id} accepted")
        if not args.wait:
            return OK

        def new_events() -> None:
            nonlocal seen
            events = client.call("GET", timeline)["failover_timeline"]
            for event in events[seen:]:
                amp = f" amphora {event['amphora_id']}" if event.get("amphora_id") else ""
                display.event(f"stage {event['stage']}{amp} {event.get('detail') or ''}".rstrip())
            seen = len(events)

        def step() -> int | None:
            new_events()
            lb, line = lb_line(client, args.id)
            display.update(line + amphora_summary(client, args.id))
            if lb is not None and lb["provisioning_status"] not in ("ERROR", "ACTIVE"):
                return None
            new_events()  # the last stages may have landed between the two reads: show them before the end
            done = lb is not None and lb["provisioning_status"] == "ACTIVE"
            display.done(f"{line}: failover complete" if done else f"{line}: failover failed")
            return OK if done else FAILED

        return poll(display, args.timeout, args.interval, step)

    return _run(args, run)


# -- member batch-create / batch-delete ---------------------------------------------------------------------

_INTS = ("protocol_port", "weight", "monitor_port")
_BOOLS = ("backup", "admin_state_up")


def read_members(path: Path) -> list[dict[str, Any]]:
    """CSV with a header row: address,protocol_port and any other member POST fields (empty cells left out)."""
    members = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            member: dict[str, Any] = {}
            for key, value in row.items():
                if key is None or value is None or not value.strip():
                    continue
                value = value.strip()
                if key in _INTS:
                    member[key] = int(value)
                elif key in _BOOLS:
                    member[key] = value.lower() in ("1", "true", "yes")
                else:
                    member[key] = value
            members.append(member)
    return members


def _key(member: dict[str, Any]) -> tuple[str, int]:
    return str(member["address"]), int(member["protocol_port"])


def cmd_member_batch(args: argparse.Namespace) -> int:
    creating = args.action == "batch-create"

    def run(client: ApiClient, display: Display) -> int:
        try:
            wanted = read_members(Path(args.from_file))
            keys = {_key(m) for m in wanted}
        except (OSError, ValueError, KeyError) as exc:
            print(f"ostia member {args.action}: {args.from_file}: {exc}", file=sys.stderr)
            return FAILED
        members_path = f"/v2/lbaas/pools/{args.pool}/members"
        pool = client.call("GET", f"/v2/lbaas/pools/{args.pool}")["pool"]
        if creating:
            client.call("PUT", members_path + "?additive_only=true", {"members": wanted}, ok=(202,))
        else:  # the batch update deletes every member it is not given
            current = client.call("GET", members_path)["members"]
            keep = [{k: m[k] for k in ("address", "protocol_port", "weight", "backup", "admin_state_up",
                                       "subnet_id", "monitor_address", "monitor_port") if m.get(k) is not None}
                    for m in current if _key(m) not in keys]
            client.call("PUT", members_path, {"members": keep}, ok=(202,))
        display.event(f"{len(keys)} members to {'create' if creating else 'delete'} in pool {args.pool}")
        if not args.wait:
            return OK

        def step() -> int | None:
            current = {_key(m): m for m in client.call("GET", members_path)["members"]}
            if creating:
                done = sum(current.get(k, {}).get("provisioning_status") == "ACTIVE" for k in keys)
                failed = sum(current.get(k, {}).get("provisioning_status") == "ERROR" for k in keys)
            else:
                done, failed = sum(k not in current for k in keys), 0
            display.update(f"members {bar(done, len(keys))} {'ACTIVE' if creating else 'deleted'}")
            lb = client.get_or_none(LB.format(pool["loadbalancers"][0]["id"]))
            lb_status = lb["loadbalancer"]["provisioning_status"] if lb else "DELETED"
            if failed or lb_status == "ERROR":
                display.done(f"members {bar(done, len(keys))}: {failed} in ERROR, load balancer {lb_status}")
                return FAILED
            if done == len(keys) and lb_status == "ACTIVE":
                display.done(f"members {bar(done, len(keys))} {'ACTIVE' if creating else 'deleted'}: done")
                return OK
            return None

        return poll(display, args.timeout, args.interval, step)

    return _run(args, run)


# -- plumbing -----------------------------------------------------------------------------------------------

def _run(args: argparse.Namespace, body: Callable[[ApiClient, Display], int]) -> int:
    try:
        client = ApiClient(args)
    except Exception as exc:  # keystoneauth's many errors: the message is what the user needs
        print(f"ostia: cannot reach the API: {exc}", file=sys.stderr)
        return FAILED
    try:
        return body(client, Display())
    except ApiError as exc:
        print(f"ostia: {exc}", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        return 130
    finally:
        client.close()


def _common(parser: argparse.ArgumentParser, timeout: float) -> None:
    add_options(parser)
    parser.add_argument("--timeout", type=float, default=timeout, help=f"seconds (default {timeout:g}); "
                        f"exit {TIMED_OUT} when they pass")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls (default 0.5)")


def add_parser(sub: Any) -> None:
    """Register `ostia loadbalancer …` and `ostia member …` on the main parser's subparsers."""
    lb = sub.add_parser("loadbalancer", help="wait for a load balancer, fail it over (with progress)")
    lb_sub = lb.add_subparsers(dest="action", required=True)
    wait = lb_sub.add_parser("wait", help="wait until the load balancer's provisioning status is reached")
    wait.add_argument("id")
    wait.add_argument("--status", default="ACTIVE", help="ACTIVE (default), ERROR, DELETED, ...")
    _common(wait, 600)
    wait.set_defaults(func=cmd_lb_wait)
    failover = lb_sub.add_parser("failover", help="fail the load balancer over")
    failover.add_argument("id")
    failover.add_argument("--wait", action="store_true", help="show the stages until it is ACTIVE again")
    _common(failover, 900)
    failover.set_defaults(func=cmd_lb_failover)

    member = sub.add_parser("member", help="bulk member operations (with progress)")
    member_sub = member.add_subparsers(dest="action", required=True)
    for action, text in (("batch-create", "add the members of a CSV file to a pool"),
                         ("batch-delete", "remove the members of a CSV file (address,protocol_port) from a pool")):
        batch = member_sub.add_parser(action, help=text)
        batch.add_argument("pool", help="pool id")
        batch.add_argument("--from-file", required=True, help="CSV: address,protocol_port[,name,weight,...]")
        batch.add_argument("--wait", action="store_true", help="show progress until every member is done")
        _common(batch, 900)
        batch.set_defaults(func=cmd_member_batch)
