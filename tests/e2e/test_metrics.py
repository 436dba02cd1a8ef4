"""/metrics and the progress commands against a real `ostia up`: real amphorae (loopback network, local compute,
the agent and HAProxy), real member servers, real heartbeats.

Proves: /metrics parses with prometheus_client's own parser; the API latency histogram counts the calls just
made under their route template; per-member counters, summed from the heartbeats' member_stats, rise by the
requests sent through the VIP; heartbeats are counted and a datagram with a bad HMAC is counted as rejected;
sources outside `metrics_allowed_cidrs` get Octavia's 403. The `ostia loadbalancer wait|failover` and
`ostia member batch-create|batch-delete` commands print plain progress lines when not on a terminal and exit
0 when done, 124 on --timeout.
"""

from __future__ import annotations

import random
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ostia import heartbeat
from tests.e2e.conftest import OSTIA, OstiaServer, client_env, ostia_up
from tests.functional.udp_support import udp_port
from tests.support.backends import Member, request, wait_for

PROJECT = "p-metrics"
REQUESTS = 20
CLI_TIMEOUT = 60


@pytest.fixture(scope="module")
def net() -> int:
    return random.randrange(100, 250)


@pytest.fixture(scope="module")
def hm_port() -> int:
    return udp_port("127.0.0.1")


@pytest.fixture(scope="module")
def server(net: int, hm_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OstiaServer]:
    settings = [f"networking.networks=public:public-subnet:127.{net}.1.0/24,private:private-subnet:127.{net}.2.0/24",
                f"local_compute.mgmt_cidr=127.{net}.3.0/24", f"health_manager.bind_port={hm_port}",
                "api_settings.metrics_allowed_cidrs=127.0.0.1/32", "house_keeping.spare_amphora_pool_size=0"]
    with ostia_up(tmp_path_factory.mktemp("ostia-metrics"), *settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def members(net: int) -> Iterator[list[Member]]:
    started = [Member(f"m{i}", f"127.{net}.2.{10 + i}") for i in (1, 2)]
    yield started
    for member in started:
        member.stop()


@pytest.fixture(scope="module")
def lb(server: OstiaServer, members: list[Member]) -> dict[str, Any]:
    subnets = {s["name"]: s["id"] for s in server.get_json("/v2.0/subnets")["subnets"]}
    status, reply = server.http("POST", "/v2/lbaas/loadbalancers", {"loadbalancer": {
        "name": "metrics", "vip_subnet_id": subnets["public-subnet"], "listeners": [{
            "name": "web", "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [{"address": m.address, "protocol_port": m.port,
                             "subnet_id": subnets["private-subnet"]} for m in members]}}]}}, project=PROJECT)
    assert status == 201, reply
    return server.wait_lb(reply["loadbalancer"]["id"])


def scrape(server: OstiaServer) -> dict[str, list[Any]]:
    """Every sample of /metrics by sample name, parsed by prometheus_client's parser."""
    resp = httpx.get(server.url + "/metrics", timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(s.value for s in samples.get(name, []) if labels.items() <= s.labels.items())


def member_ids(server: OstiaServer, lb: dict[str, Any]) -> tuple[str, list[str]]:
    pool_id = lb["pools"][0]["id"]
    return pool_id, [m["id"] for m in server.get_json(f"/v2/lbaas/pools/{pool_id}/members")["members"]]


def test_metrics_parse_and_count_api_calls_jobs_flows_and_statuses(server: OstiaServer, lb: dict[str, Any]) -> None:
    before = value(scrape(server), "ostia_api_request_duration_seconds_count",
                   route="/v2/lbaas/loadbalancers/{lb_id}", method="GET", status="200")
    for _ in range(3):
        server.get_json(f"/v2/lbaas/loadbalancers/{lb['id']}")
    server.http("GET", "/v2/lbaas/loadbalancers/not-there")
    samples = scrape(server)
    assert value(samples, "ostia_api_request_duration_seconds_count", route="/v2/lbaas/loadbalancers/{lb_id}",
                 method="GET", status="200") == before + 3
    assert value(samples, "ostia_api_request_duration_seconds_count", route="/v2/lbaas/loadbalancers/{lb_id}",
                 status="404") >= 1
    # Label values are templates: no load balancer id ever becomes a route label.
    assert not [s for s in samples["ostia_api_request_duration_seconds_count"] if lb["id"] in s.labels["route"]]
    assert value(samples, "ostia_jobs", kind="load_balancer.create", state="DONE") >= 1
    assert value(samples, "ostia_flow_duration_seconds_count", flow="load_balancer.create", outcome="DONE") >= 1
    assert value(samples, "ostia_flow_duration_seconds_sum", flow="load_balancer.create") > 0
    assert value(samples, "octavia_loadbalancer_status", loadbalancer=lb["id"], provisioning_status="ACTIVE") == 1
    pool_id, ids = member_ids(server, lb)
    wait_for("members NO_MONITOR (no health monitor) in /metrics", lambda: all(
        value(scrape(server), "octavia_member_status", member=m, pool=pool_id, operating_status="NO_MONITOR") == 1
        for m in ids), timeout=15)
    assert "ostia_failovers_total" in samples


def test_member_counters_rise_with_real_traffic(server: OstiaServer, lb: dict[str, Any],
                                                members: list[Member]) -> None:
    pool_id, ids = member_ids(server, lb)
    listener_id = lb["listeners"][0]["id"]
    before = scrape(server)
    sessions = {m: value(before, "octavia_member_sessions_total", member=m) for m in ids}
    bytes_out = {m: value(before, "octavia_member_bytes_out_total", member=m) for m in ids}
    listener_in = value(before, "octavia_listener_bytes_in_total", listener=listener_id)
    hits = sum(m.hits for m in members)
    answered = [request(f"http://{lb['vip_address']}/").member for _ in range(REQUESTS)]
    assert set(answered) == {"m1", "m2"}
    assert sum(m.hits for m in members) - hits == REQUESTS

    def risen() -> dict[str, list[Any]] | None:
        now = scrape(server)
        grew = sum(value(now, "octavia_member_sessions_total", member=m) - sessions[m] for m in ids)
        return now if grew >= REQUESTS else None

    after = wait_for("member session counters to count the requests", risen, timeout=15, interval=0.3)
    for m in ids:  # round robin: both members got traffic, and their counters say so
        assert value(after, "octavia_member_sessions_total", member=m, pool=pool_id, loadbalancer=lb["id"]) \
            > sessions[m]
        assert value(after, "octavia_member_bytes_out_total", member=m) > bytes_out[m]
    assert sum(value(after, "octavia_member_sessions_total", member=m) - sessions[m] for m in ids) == REQUESTS
    wait_for("listener bytes in /metrics", lambda: value(scrape(server), "octavia_listener_bytes_in_total",
                                                         listener=listener_id) > listener_in, timeout=15)


def test_heartbeats_are_counted_and_a_bad_signature_is_rejected(server: OstiaServer, lb: dict[str, Any],
                                                                hm_port: int) -> None:
    first = scrape(server)
    received = value(first, "ostia_heartbeats_received_total")
    wait_for("more heartbeats", lambda: value(scrape(server), "ostia_heartbeats_accepted_total")
             > value(first, "ostia_heartbeats_accepted_total"), timeout=10)
    rejected = value(scrape(server), "ostia_heartbeats_rejected_total", reason="bad_signature")
    forged = heartbeat.encode({"id": "forged", "seq": 1, "ver": 3, "listeners": {}, "pools": {}}, "not-the-key")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(forged, ("127.0.0.1", hm_port))
    wait_for("the forged beat to be counted", lambda: value(
        scrape(server), "ostia_heartbeats_rejected_total", reason="bad_signature") == rejected + 1, timeout=10)
    assert value(scrape(server), "ostia_heartbeats_received_total") > received


def test_metrics_answer_only_allowed_sources(server: OstiaServer) -> None:
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=10) as client:
        resp = client.get(server.url + "/metrics")
        assert resp.status_code == 403
        assert resp.json()["faultstring"] == "Policy does not allow this request to be performed."
        assert client.get(server.url + "/").status_code == 200  # the API itself is not restricted


# -- progress commands ------------------------------------------------------------------------------------------

def ostia_all(server: OstiaServer, tmp: Path, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """`ostia <args>` for each command, all at once, as a user runs them, output captured (not a terminal:
    plain lines)."""
    procs = [subprocess.Popen([str(OSTIA), *args, "--os-endpoint", server.url, "--interval", "0.2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=client_env(tmp))
             for args in commands]
    results = []
    try:
        for proc, args in zip(procs, commands, strict=True):
            out, err = proc.communicate(timeout=CLI_TIMEOUT)
            results.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def ostia(server: OstiaServer, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return ostia_all(server, tmp, list(args))[0]


def test_loadbalancer_wait_prints_status_and_children_and_times_out(server: OstiaServer, lb: dict[str, Any],
                                                                    tmp_path: Path) -> None:
    done, waited, missing = ostia_all(
        server, tmp_path, ["loadbalancer", "wait", lb["id"]],
        ["loadbalancer", "wait", lb["id"], "--status", "PENDING_UPDATE", "--timeout", "1"],
        ["loadbalancer", "wait", "0" * 8 + "-0000-0000-0000-" + "0" * 12])
    assert done.returncode == 0, done.stderr
    last = done.stdout.splitlines()[-1]
    assert f"loadbalancer {lb['id']}: ACTIVE/" in last
    assert "listeners 1/1 pools 1/1 members 2/2 ACTIVE" in last
    assert waited.returncode == 124, waited.stdout
    assert waited.stdout.splitlines()[-1].endswith("timed out after 1s")
    assert "\r" not in waited.stdout and "\x1b" not in waited.stdout
    assert missing.returncode == 1
    assert "DELETED (waited for ACTIVE)" in missing.stdout


def test_member_batch_create_and_delete_show_progress(server: OstiaServer, lb: dict[str, Any], net: int,
                                                      tmp_path: Path) -> None:
    pool_id, before = member_ids(server, lb)
    csv_file = tmp_path / "members.csv"
    csv_file.write_text("address,protocol_port,name,weight\n" +
                        "".join(f"127.{net}.2.{50 + i},8080,bulk{i},{i + 1}\n" for i in range(3)))
    created = ostia(server, tmp_path, "member", "batch-create", pool_id, "--from-file", str(csv_file), "--wait")
    assert created.returncode == 0, created.stdout + created.stderr
    lines = created.stdout.splitlines()
    assert lines[0].endswith(f"3 members to create in pool {pool_id}")
    assert lines[-1].endswith("3/3 ACTIVE: done")
    now = server.get_json(f"/v2/lbaas/pools/{pool_id}/members")["members"]
    assert sorted(m["name"] for m in now if m["id"] not in before) == ["bulk0", "bulk1", "bulk2"]
    deleted = ostia(server, tmp_path, "member", "batch-delete", pool_id, "--from-file", str(csv_file), "--wait")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert deleted.stdout.splitlines()[-1].endswith("3/3 deleted: done")
    assert sorted(m["id"] for m in server.get_json(f"/v2/lbaas/pools/{pool_id}/members")["members"]) \
        == sorted(before)
    refused = ostia(server, tmp_path, "member", "batch-create", "no-such-pool", "--from-file", str(csv_file))
    assert refused.returncode == 1
    assert "404" in refused.stderr


def test_loadbalancer_failover_wait_follows_it_to_active(server: OstiaServer, lb: dict[str, Any],
                                                         tmp_path: Path) -> None:
    (before,) = [a["id"] for a in server.get_json(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}")["amphorae"]]
    result = ostia(server, tmp_path, "loadbalancer", "failover", lb["id"], "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(f"failover of loadbalancer {lb['id']} accepted")
    # the load balancer failover replaces its amphora as an amphora failover would, timeline included (a failover
    # can end before the first poll, so PENDING_UPDATE need not show; the stages always do)
    (after,) = [a["id"] for a in server.get_json(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}")["amphorae"]]
    assert after != before
    assert any(line.endswith(f"stage REDUNDANCY_RESTORED amphora {after} amp={after} replaced amp={before}")
               for line in lines), lines
    assert lines[-1].endswith("failover complete")
    assert "ACTIVE/" in lines[-1]
    assert request(f"http://{lb['vip_address']}/").status == 200  # the rebuilt amphora serves
