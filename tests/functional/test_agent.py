"""The amphora agent as a real process over mutual TLS, driving real HAProxy processes on 127.0.0.1."""

from __future__ import annotations

import hashlib
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from ostia import process
from ostia.agent import procs, stats
from ostia.agent.haproxy import ProcInfo, parse_show_proc
from ostia.drivers.certificates.local_ca import LocalCertificateDriver
from ostia.drivers.certificates.tls import client_context
from tests.support.agent import Agent, backend_haproxy, lb_config, master_pid, running_agent
from tests.support.processes import free_port


@pytest.fixture
def agent(workdir: Path) -> Iterator[Agent]:
    with running_agent(workdir) as running:
        yield running


def _through(port: int, close: bool = False) -> httpx.Response:
    headers = {"Connection": "close"} if close else {}
    return httpx.get(f"http://127.0.0.1:{port}/", headers=headers, timeout=5)


def _show_proc(agent: Agent, lb_id: str) -> ProcInfo | None:
    return parse_show_proc(procs.unix_command(agent.base_path / lb_id / "master.sock", "show proc"))


def _masters_for(agent: Agent, lb_id: str) -> list[int]:
    """Every running HAProxy master of this LB, found by its master socket on the command line."""
    sock = str(agent.base_path / lb_id / "master.sock")
    out = subprocess.run(["pgrep", "-f", f"haproxy -W -S {sock}"], capture_output=True, text=True, check=False)
    pids = [int(p) for p in out.stdout.split() if process.alive(int(p))]
    # Workers carry the same command line; a master is the one whose parent is not one of them.
    return [p for p in pids if _ppid(p) not in pids]


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def test_callers_without_a_client_certificate_from_the_ca_are_refused(agent: Agent, workdir: Path) -> None:
    no_cert = ssl.create_default_context(cafile=str(workdir / "ca.pem"))
    other_ca = LocalCertificateDriver(workdir / "other-ca", "pass")
    other = other_ca.issue_client_cert("ostia-controller")
    (workdir / "other.pem").write_bytes(other.cert_pem)
    (workdir / "other.key").write_bytes(other.key_pem)
    foreign = client_context(workdir / "other.pem", workdir / "other.key", workdir / "ca.pem")
    for ctx in (no_cert, foreign):
        with httpx.Client(verify=ctx) as client, pytest.raises(httpx.TransportError):
            client.get(f"{agent.url}/", extensions={"sni_hostname": agent.amphora_id})
    assert agent.get("/").json() == {"api_version": "1.0"}


def test_info_details_and_the_ping_wrapper(agent: Agent) -> None:
    info = agent.get("/1.0/info").json()
    assert info["amphora_id"] == agent.amphora_id and info["api_version"] == "1.0"
    assert info["haproxy_version"].startswith("2.")
    assert info["base_path"] == str(agent.base_path) and info["cert_path"] == str(agent.base_path / "certs")
    assert info["network_namespace"] == "" and info["topology"] == "SINGLE" and info["haproxy_user"] is None
    details = agent.get("/1.0/details").json()
    assert details["active"] is True and details["haproxy_count"] == 0 and details["listeners"] == []
    assert details["memory"]["total"] > 0 and len(details["load"]) == 3
    # Octavia's fields the controller may read: memory incl. swap/shared/slab, cpu jiffies, disk bytes.
    assert {"swap_used", "shared", "slab"} <= set(details["memory"]) and details["cpu"]["total"] > 0
    assert details["disk"]["available"] > 0 and details["packages"] == {}
    assert agent.get("/1.0/listeners").json() == []
    wrapper = agent.base_path / "ping-wrapper.sh"
    assert wrapper.stat().st_mode & 0o777 == 0o755
    # HAProxy's external-check contract: address in the environment and as argument 3, empty PATH.
    up = subprocess.run([str(wrapper), "", "", "127.0.0.1", "0"], env={"HAPROXY_SERVER_ADDR": "127.0.0.1"},
                        timeout=10, check=False)
    bad = subprocess.run([str(wrapper), "", "", "not-an-address", "0"], env={}, timeout=10, check=False)
    assert up.returncode == 0 and bad.returncode != 0


def test_error_bodies(agent: Agent) -> None:
    r = agent.get("/1.0/nothing-here")
    assert r.status_code == 404 and r.json() == {"error": "Not Found", "http_code": 404}
    r = agent.get(f"/1.0/loadbalancer/{uuid.uuid4()}/haproxy")
    assert r.status_code == 404 and r.json() == {"message": "Loadbalancer Not Found"}
    r = agent.put(f"/1.0/loadbalancer/{uuid.uuid4()}/start")
    assert r.status_code == 404 and r.json()["message"] == "Loadbalancer Not Found"
    r = agent.put(f"/1.0/loadbalancer/{uuid.uuid4()}/explode")
    assert r.status_code == 400
    r = agent.put(f"/1.0/loadbalancer/{uuid.uuid4()}/{uuid.uuid4()}/haproxy", content=b"global\n")
    assert r.status_code == 400 and r.json()["message"] == "Invalid amphora id"
    r = agent.post("/1.0/plug/vip/10.0.0.1", content=b"{not json")
    assert r.status_code == 400 and r.json()["http_code"] == 400
    assert agent.delete(f"/1.0/listeners/{uuid.uuid4()}").status_code == 200
    # The UDP module's routes are mounted (its own 404, not the framework's).
    r = agent.get(f"/1.0/listeners/{uuid.uuid4()}/udp_listener")
    assert r.status_code == 404 and r.json()["message"] == "UDP Listener Not Found"


def test_config_push_start_serve_and_a_bad_config_changes_nothing(agent: Agent, workdir: Path) -> None:
    lb, port = str(uuid.uuid4()), free_port()
    with backend_haproxy(workdir) as backend:
        good = lb_config(agent, lb, port, backend, generation="1")
        r = agent.put(f"/1.0/loadbalancer/{agent.amphora_id}/{lb}/haproxy", content=good)
        assert r.status_code == 202 and r.json() == {"message": "OK"}
        cfg = agent.base_path / lb / "haproxy.cfg"
        assert cfg.stat().st_mode & 0o777 == 0o600
        assert r.headers["etag"] == hashlib.md5(good.encode()).hexdigest()
        r = agent.put(f"/1.0/loadbalancer/{lb}/Start")
        assert r.status_code == 202, r.text
        resp = _through(port)
        assert resp.text == "member-1" and resp.headers["x-generation"] == "1"
        details = agent.get("/1.0/details").json()
        # Listener ids (the cfg's frontends), not load balancer ids, as Octavia's /details and /listeners.
        assert details["haproxy_count"] == 1 and details["listeners"] == ["fe"]
        assert agent.get("/1.0/listeners").json() == [{"status": "ACTIVE", "uuid": "fe", "type": "HTTP"}]
        rows = stats.show_stat(agent.base_path / f"{lb}.sock")
        assert {(r["pxname"], r["svname"]) for r in rows} >= {("fe", "FRONTEND"), ("be", "m1"), ("be", "BACKEND")}

        bad = good.replace("default_backend be", "default_backend be\n    no-such-keyword here")
        r = agent.put(f"/1.0/loadbalancer/{agent.amphora_id}/{lb}/haproxy", content=bad)
        assert r.status_code == 400 and r.json()["message"] == "Invalid request"
        assert "no-such-keyword" in r.json()["details"]
        assert (agent.base_path / lb / "haproxy.cfg.new-failed").read_text() == bad
        got = agent.get(f"/1.0/loadbalancer/{lb}/haproxy")
        assert got.status_code == 200 and got.text == good and got.headers["content-type"].startswith("text/plain")
        assert _through(port).headers["x-generation"] == "1"

        # A good update then reload: the new generation serves, from the same master.
        pid = master_pid(agent, lb)
        r = agent.put(f"/1.0/loadbalancer/{agent.amphora_id}/{lb}/haproxy",
                      content=lb_config(agent, lb, port, backend, generation="2"))
        assert r.status_code == 202
        assert agent.put(f"/1.0/loadbalancer/{lb}/reload").status_code == 202
        assert _through(port).headers["x-generation"] == "2"
        assert master_pid(agent, lb) == pid and _masters_for(agent, lb) == [pid]

        # A reload HAProxy itself rejects (a file it needs went missing behind the agent's back): an error,
        # and the running worker keeps serving.
        good2 = cfg.read_text()
        cfg.write_text(good2.replace("default_backend be", "default_backend be\n    bind-process nope"))
        r = agent.put(f"/1.0/loadbalancer/{lb}/reload")
        assert r.status_code == 500 and r.json()["message"] == "Error reloading haproxy"
        assert _through(port).headers["x-generation"] == "2"
        cfg.write_text(good2)

        assert agent.put(f"/1.0/loadbalancer/{lb}/stop").status_code == 202
        assert not process.alive(pid)
        with pytest.raises(httpx.TransportError):
            _through(port)
        # reload on a stopped LB starts it
        assert agent.put(f"/1.0/loadbalancer/{lb}/reload").status_code == 202
        assert _through(port).headers["x-generation"] == "2"


def test_a_config_whose_reload_fails_leaves_the_running_one_current(agent: Agent, workdir: Path) -> None:
    """`haproxy -c` cannot see a bind conflict: the reload fails, the old workers keep serving, and the file on
    disk is the running one again, so the next good push and reload work."""
    lb, port = str(uuid.uuid4()), free_port()
    with backend_haproxy(workdir) as backend, socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))  # no SO_REUSEPORT: HAProxy cannot share this port
        busy.listen(1)
        busy_port = busy.getsockname()[1]
        good = lb_config(agent, lb, port, backend, generation="1")
        assert agent.put(f"/1.0/loadbalancer/{agent.amphora_id}/{lb}/haproxy", content=good).status_code == 202
        assert agent.put(f"/1.0/loadbalancer/{lb}/start").status_code == 202
        conflicting = lb_config(agent, lb, port, backend, generation="2")
        conflicting += f"frontend extra\n    bind 127.0.0.1:{busy_port}\n"
        path = f"/1.0/loadbalancer/{agent.amphora_id}/{lb}/haproxy"
        assert agent.put(path, content=conflicting).status_code == 202
        r = agent.put(f"/1.0/loadbalancer/{lb}/reload")
        assert r.status_code == 500 and r.json()["message"] == "Error reloading haproxy", r.text
        assert _through(port).headers["x-generation"] == "1"
        assert agent.get(f"/1.0/loadbalancer/{lb}/haproxy").text == good
        assert agent.put(f"/1.0/loadbalancer/{agent.amphora_id}/{lb}/haproxy",
                         content=lb_config(agent, lb, port, backend, generation="3")).status_code == 202
        assert agent.put(f"/1.0/loadbalancer/{lb}/reload").status_code == 202
        assert _through(port).headers["x-generation"] == "3"


def test_reload_under_load_drops_no_request(agent: Agent, workdir: Path) -> None:
    lb, port = str(uuid.uuid4()), free_port()
    with backend_haproxy(workdir) as backend:
        assert agent.put(f"/1.0/loadbalancer/{agent.amphora_id}/{lb}/haproxy",
                         content=lb_config(agent, lb, port, backend)).status_code == 202
        assert agent.put(f"/1.0/loadbalancer/{lb}/start").status_code == 202
        before = _show_proc(agent, lb)
        failures: list[str] = []
        done = {"keepalive": 0, "close": 0}
        retried: list[str] = []
        reloaded = threading.Event()

        def load(kind: str) -> None:
            # At least 300 requests, and on until the reloads are over (bounded by count and time).
            deadline = time.monotonic() + 30
            headers = {"Connection": "close"} if kind == "close" else {}
            with httpx.Client(timeout=5) as client:
                while done[kind] < 5000 and time.monotonic() < deadline and \
                        (done[kind] < 300 or not reloaded.is_set()):
                    try:
                        r = client.get(f"http://127.0.0.1:{port}/", headers=headers)
                    except httpx.RemoteProtocolError as exc:
                        # The old worker closes its idle keep-alive connections when it stops; a GET that
                        # crossed that close on the wire got no response at all, and HTTP lets a client
                        # resend it (RFC 9112 9.3.1), which browsers and wrk do. httpx does not: do it here,
                        # once, and count it. A new connection is never refused (the Connection: close loop).
                        if kind != "keepalive":
                            failures.append(f"{kind}: {exc!r}")
                        retried.append(repr(exc))
                        try:
                            r = client.get(f"http://127.0.0.1:{port}/", headers=headers)
                        except httpx.HTTPError as again:
                            failures.append(f"{kind} (retried): {again!r}")
                            continue
                    except httpx.HTTPError as exc:
                        failures.append(f"{kind}: {exc!r}")
                        continue
                    finally:
                        done[kind] += 1
                    if r.status_code != 200:
                        failures.append(f"{kind}: {r.status_code}")

        threads = [threading.Thread(target=load, args=(k,)) for k in done]
        for t in threads:
            t.start()
        try:
            for _ in range(3):
                time.sleep(0.2)
                assert agent.put(f"/1.0/loadbalancer/{lb}/reload").status_code == 202
            under_load = all(t.is_alive() for t in threads)  # every reload happened while both loops ran
        finally:
            reloaded.set()
            for t in threads:
                t.join(60)
        assert under_load and min(done.values()) >= 300, done
        assert failures == []
        assert len(retried) <= 3, retried  # at most the one idle connection each old worker closed
        after = _show_proc(agent, lb)
        assert after is not None and before is not None
        assert after.master_pid == before.master_pid
        assert after.reloads == before.reloads + 3 and after.failed == 0


def test_agent_killed_and_restarted_adopts_the_running_haproxy(agent: Agent, workdir: Path) -> None:
    lb, port = str(uuid.uuid4()), free_port()
    with backend_haproxy(workdir) as backend:
        agent.put(f"/1.0/loadbalancer/{agent.amphora_id}/{lb}/haproxy", content=lb_config(agent, lb, port, backend))
        assert agent.put(f"/1.0/loadbalancer/{lb}/start").status_code == 202
        pid = master_pid(agent, lb)
        agent.kill()
        assert _through(port).status_code == 200  # the data plane does not need the agent
        assert process.alive(pid)

        agent.start()
        r = agent.put(f"/1.0/loadbalancer/{lb}/start")
        assert r.status_code == 202 and "already running" in r.json()["details"]
        assert master_pid(agent, lb) == pid and _masters_for(agent, lb) == [pid]
        info = _show_proc(agent, lb)
        assert info is not None and info.master_pid == pid and len(info.workers) == 1
        assert agent.put(f"/1.0/loadbalancer/{lb}/reload").status_code == 202  # the adopted one reloads too
        assert _through(port).status_code == 200
        agent.stop()  # a clean SIGTERM of the agent leaves HAProxy serving too
        assert process.alive(pid) and _through(port).status_code == 200
        assert not (agent.base_path / "agent.pid").exists()
        agent.start()
        assert (agent.base_path / "agent.pid").read_text().strip() == str(agent.proc.pid)  # type: ignore[union-attr]

        (agent.base_path / "certs" / lb).mkdir()
        assert agent.delete(f"/1.0/listeners/{lb}").json() == {"message": "OK"}
        assert not process.alive(pid)
        assert not (agent.base_path / lb).exists() and not (agent.base_path / "certs" / lb).exists()
        assert not (agent.base_path / f"{lb}.sock").exists()
        with pytest.raises(httpx.TransportError):
            _through(port)


def test_listener_certificates_and_the_filename_rule(agent: Agent) -> None:
    lb = str(uuid.uuid4())
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    base = f"/1.0/loadbalancer/{lb}/certificates"
    r = agent.put(f"{base}/tls-1.pem", content=pem)
    assert r.status_code == 200 and r.json() == {"message": "OK"}
    digest = hashlib.md5(pem).hexdigest()
    assert r.headers["etag"] == digest
    path = agent.base_path / "certs" / lb / "tls-1.pem"
    assert path.read_bytes() == pem and path.stat().st_mode & 0o777 == 0o600
    r = agent.get(f"{base}/tls-1.pem")
    assert r.json() == {"md5sum": digest} and r.headers["etag"] == digest
    assert agent.put(f"{base}/listener.crt-list", content=b"x.pem\n").status_code == 200
    for bad in (".hidden.pem", "a.key", "a b.pem", "..pem"):
        r = agent.put(f"{base}/{bad}", content=pem)
        assert r.status_code == 400 and r.json() == {"message": "Filename has wrong format"}, bad
    assert agent.put(f"{base}/..%2Fescape.pem", content=pem).status_code in (400, 404)
    assert agent.delete(f"{base}/tls-1.pem").status_code == 200
    r = agent.get(f"{base}/tls-1.pem")
    assert r.status_code == 404 and r.json() == {"message": "Certificate Not Found"}
    assert agent.delete(f"{base}/tls-1.pem").status_code == 200


def _served_serial(agent: Agent) -> int:
    ctx = agent.client_ssl()
    with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=agent.amphora_id) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return int(x509.load_der_x509_certificate(der).serial_number)


def test_server_certificate_rotation_is_served_to_new_connections(agent: Agent, workdir: Path) -> None:
    old = x509.load_pem_x509_certificate((workdir / "server.pem").read_bytes()).serial_number
    assert _served_serial(agent) == old
    new = agent.ca.issue_server_cert(agent.amphora_id)
    assert agent.put("/1.0/certificate", content=b"garbage").status_code == 400
    r = agent.put("/1.0/certificate", content=new.cert_pem + new.key_pem)
    assert r.status_code == 202
    serial = x509.load_pem_x509_certificate(new.cert_pem).serial_number
    assert _served_serial(agent) == serial != old
    assert (workdir / "server.pem").read_bytes() == new.cert_pem
    assert (workdir / "server.key").stat().st_mode & 0o777 == 0o600
    assert agent.get("/").status_code == 200  # the agent's keep-alive client was not dropped


def test_agent_config_upload(agent: Agent) -> None:
    text = agent.conf.read_text() + "# updated\n"
    assert agent.put("/1.0/config", content=text).status_code == 202
    assert agent.conf.read_text() == text and agent.conf.stat().st_mode & 0o777 == 0o600


def test_loopback_plugs_are_recorded_and_found(agent: Agent) -> None:
    body: dict[str, object] = {"subnet_cidr": "127.1.0.0/16", "gateway": None, "mac_address": "", "mtu": None,
                               "vrrp_ip": None, "host_routes": [], "additional_vips": []}
    r = agent.post("/1.0/plug/vip/127.1.0.10", json=body)
    assert r.status_code == 202 and r.json()["message"] == "OK"
    assert agent.post("/1.0/plug/vip/127.1.0.10", json=body).status_code == 202  # idempotent
    assert agent.post("/1.0/plug/vip/nonsense", json=body).json() == {"message": "Invalid VIP",
                                                                     "details": "'nonsense' is not an IP address"}
    r = agent.post("/1.0/plug/vip/127.1.0.10", json={**body, "subnet_cidr": "127.1.0.0/99"})
    assert r.status_code == 400 and r.json()["message"] == "Invalid subnet information"
    r = agent.post("/1.0/plug/network", json={"mac_address": "", "mtu": None, "fixed_ips": [
        {"ip_address": "127.2.0.11", "subnet_cidr": "127.2.0.0/16", "gateway": None, "host_routes": []}]})
    assert r.status_code == 202
    assert agent.get("/1.0/interface/127.1.0.10").json() == {"message": "OK", "interface": "lo"}
    assert agent.get("/1.0/interface/127.2.0.11").json()["interface"] == "lo"
    assert agent.get("/1.0/interface/127.9.9.9").status_code == 404
    assert agent.get("/1.0/interface/not-an-ip").status_code == 400
    records = (agent.base_path / "plugged_interfaces.json").read_text()
    assert records.count("127.1.0.10/16") == 1
    r = agent.post("/1.0/plug/vip/127.1.0.10", json={**body, "mac_address": "02:00:00:00:00:01"})
    assert r.status_code == 404 and r.json()["message"] == "No suitable network interface found"
