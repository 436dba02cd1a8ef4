"""End-to-end harness: one real `ostia up` process per session, driven by the real clients.

The server runs as a subprocess on a free port with its own state directory (SQLite, noop drivers), exactly
as a user would start it, and is killed at teardown. The CLI helper runs `openstack --os-auth-type none
--os-endpoint <url> loadbalancer ... -f json`, the single-endpoint mode in which python-octaviaclient also
sends its Networking (and `<project>`) look-ups to Ostia. Commands run in forks of a process that imported the
client once (cli_forkserver.py) because each fresh `openstack` start costs a second of imports; `Cli.binary`
runs the installed script itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ostia.drivers.compute.local import delete_all
from tests.support.barbican import barbican  # noqa: F401 - session fixture, started only by tests asking for it
from tests.support.keystone import keystone  # noqa: F401 - one Keystone per session for every module here
from tests.support.processes import NOOP_SETTINGS, free_port, free_udp_port, stop, wait_http

BIN = Path(sys.executable).parent
OSTIA = BIN / "ostia"
OPENSTACK = BIN / "openstack"
START_TIMEOUT = 60.0
CLI_TIMEOUT = 90.0  # `--wait` has no timeout of its own (osc_lib), so a stuck object must not hang the suite


@dataclass
class OstiaServer:
    url: str
    port: int
    state_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def http(self, method: str, path: str, body: Any = None, project: str | None = None) -> tuple[int, Any]:
        """A plain HTTP call (set-up, clean-up and checks the clients do not show); returns (status, JSON)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,  # noqa: S310 - loopback only
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        if project:
            req.add_header("X-Project-Id", project)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return status, raw.decode(errors="replace")

    def get_json(self, path: str) -> Any:
        status, body = self.http("GET", path)
        assert status == 200, f"GET {path} -> {status}: {body}"
        return body

    def wait_for(self, path: str, key: str, status: str = "ACTIVE", timeout: float = 30.0) -> dict[str, Any]:
        """Poll GET <path> until <key>.provisioning_status is `status` (fast; `--wait` sleeps 3 s a round)."""
        deadline = time.monotonic() + timeout
        seen: Any = None
        while time.monotonic() < deadline:
            code, seen = self.http("GET", path)
            if code == 200 and seen[key]["provisioning_status"] == status:
                return dict(seen[key])
            if code == 200 and seen[key]["provisioning_status"] == "ERROR":
                break
            time.sleep(0.05)
        raise AssertionError(f"{path} did not reach {status}: {seen}\n{self.log_tail()}")

    def wait_lb(self, lb_id: str, status: str = "ACTIVE") -> dict[str, Any]:
        return self.wait_for(f"/v2/lbaas/loadbalancers/{lb_id}", "loadbalancer", status)

    def wait_gone(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        code: int | None = None
        while time.monotonic() < deadline:
            code, _ = self.http("GET", path)
            if code == 404:
                return
            time.sleep(0.05)
        raise AssertionError(f"{path} still answers {code} after {timeout}s")


def isolation_settings(state_dir: Path) -> list[str]:
    """`--set` defaults that let several `ostia up` run side by side (pytest-xdist, concurrent sessions): networks
    and management addresses of their own (127.20-63.x.0/24 blocks, not used by tests that choose their own) and
    a heartbeat port of their own. Derived from, and kept in, the state dir so a restart on the same state (kept
    amphorae) finds the same addresses and its amphorae keep reaching the health manager."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).digest()
    second, third = 20 + digest[0] % 44, 3 * (digest[1] % 85)
    port_file = state_dir / "test-heartbeat-port"
    if not port_file.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        port_file.write_text(str(free_udp_port()))
    return [f"networking.networks=public:public-subnet:127.{second}.{third}.0/24,"
            f"private:private-subnet:127.{second}.{third + 1}.0/24",
            f"local_compute.mgmt_cidr=127.{second}.{third + 2}.0/24",
            f"health_manager.bind_port={port_file.read_text().strip()}"]


@contextlib.contextmanager
def ostia_up(state_dir: Path, *settings: str, keep_amphorae: bool = False) -> Iterator[OstiaServer]:
    """`ostia up` as a user starts it, on a free port; `settings` are `--set` overrides. Its amphorae are
    removed when it stops, unless `keep_amphorae` (for a test that starts it again on the same state)."""
    port = free_port()
    log_path = state_dir / "ostia-up.log"
    args = [str(OSTIA), "--state-dir", str(state_dir), "--set", f"api_settings.bind_port={port}"]
    for item in [*isolation_settings(state_dir), *settings]:  # later --set wins: callers may override
        args += ["--set", item]
    with log_path.open("ab") as log:
        process = subprocess.Popen([*args, "up"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = OstiaServer(f"http://127.0.0.1:{port}", port, state_dir, log_path, process)
    try:
        wait_http(server.url + "/", process, log_path, START_TIMEOUT)
        yield server
    finally:
        stop(process)
        # Amphorae outlive `ostia up` on purpose; a test that failed before deleting its LBs leaves them.
        if not keep_amphorae:
            delete_all(state_dir / "amphorae")


@pytest.fixture(scope="session")
def ostia_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OstiaServer]:
    with ostia_up(tmp_path_factory.mktemp("ostia-state"), *NOOP_SETTINGS) as server:
        yield server


@dataclass
class CliResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


class CliError(AssertionError):
    def __init__(self, result: CliResult) -> None:
        self.result = result
        super().__init__(f"`{shlex.join(result.argv)}` exited with {result.returncode}\n"
                         f"stdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}")


def client_env(home: Path) -> dict[str, str]:
    """A clean environment: no OS_* variables or clouds.yaml of the caller leak into the clients."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(HOME=str(home), OS_CLIENT_CONFIG_FILE=str(home / "no-clouds.yaml"), PYTHONWARNINGS="ignore")
    return env


class ForkServer:
    """tests/e2e/cli_forkserver.py: `openstackclient.shell.main(argv)` in a fresh fork per command."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("cli_forkserver.py"))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                        env=dict(os.environ, PYTHONWARNINGS="ignore"))
        assert self.process.stdout is not None
        ready = self.process.stdout.readline()
        assert json.loads(ready) == {"ready": True}, ready

    def run(self, argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str, str, bool]:
        assert self.process.stdin is not None and self.process.stdout is not None
        with self._lock:
            self.process.stdin.write(json.dumps({"argv": argv, "env": env, "timeout": timeout}) + "\n")
            self.process.stdin.flush()
            reply = json.loads(self.process.stdout.readline())
        return int(reply["rc"]), reply["stdout"], reply["stderr"], bool(reply["timed_out"])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Cli:
    """`openstack --os-auth-type none --os-endpoint <url> loadbalancer ...` with JSON output.

    Commands run through the fork server (the console script's own `main`, minus a second of imports per
    command); `binary()` runs the installed `openstack` script itself.
    """

    server: OstiaServer
    env: dict[str, str]
    forks: ForkServer

    def argv(self, args: Sequence[str]) -> list[str]:
        return ["--os-auth-type", "none", "--os-endpoint", self.server.url, "loadbalancer", *args]

    def run(self, *args: str, env: dict[str, str] | None = None, output: str | None = "auto") -> CliResult:
        argv = self.argv(args)
        if output == "auto":
            output = _output_mode(args)
        if output == "format":
            argv = [*argv, "-f", "json"]
        rc, out, err, timed_out = self.forks.run(argv, env or self.env, CLI_TIMEOUT)
        if timed_out:
            raise AssertionError(f"`openstack {shlex.join(argv)}` timed out after {CLI_TIMEOUT}s\n"
                                 f"server log:\n{self.server.log_tail()}")
        return CliResult(["openstack", *argv], rc, out, err)

    def binary(self, argv: Sequence[str], env: dict[str, str]) -> CliResult:
        """The installed console script in a subprocess (proves the real entry point, costs ~1 s)."""
        full = [str(OPENSTACK), *argv]
        try:
            proc = subprocess.run(full, capture_output=True, text=True, timeout=CLI_TIMEOUT, env=env,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"`{shlex.join(full)}` timed out after {CLI_TIMEOUT}s") from exc
        return CliResult(full, proc.returncode, proc.stdout, proc.stderr)

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Any:
        """Run a command that must succeed; its JSON output parsed ("" for commands that print nothing)."""
        mode = _output_mode(args)
        result = self.run(*args, env=env)
        return parse(result, mode)

    def fails(self, *args: str) -> str:
        """Run a command that must fail; return its stderr."""
        result = self.run(*args)
        assert result.returncode != 0, f"`{shlex.join(result.argv)}` unexpectedly succeeded: {result.stdout}"
        return result.stderr

    def many(self, *commands: Sequence[str]) -> list[Any]:
        return [self(*c) for c in commands]


def parse(result: CliResult, mode: str | None) -> Any:
    if result.returncode != 0:
        raise CliError(result)
    if mode is None:
        return result.stdout
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise CliError(result) from exc


VERBS = ("create", "show", "list", "set", "unset", "delete", "failover", "configure", "reset")


def _output_mode(args: Sequence[str]) -> str | None:
    """"format": the command takes `-f json` (create/show/list); "json": it prints JSON by itself
    (`status show`); None: it prints nothing (set/unset/delete/failover/configure)."""
    words = list(args[:3])
    verb = next((w for w in words if w in VERBS), None)
    if words[:2] == ["status", "show"]:
        return "json"
    if words[:2] == ["quota", "set"]:  # the one ShowOne among the set commands
        return "format"
    return "format" if verb in ("create", "show", "list") else None


@pytest.fixture(scope="session")
def cli(ostia_server: OstiaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    forks = ForkServer()
    try:
        yield Cli(ostia_server, client_env(tmp_path_factory.mktemp("cli-home")), forks)
    finally:
        forks.close()


@pytest.fixture(scope="session")
def subnets(ostia_server: OstiaServer) -> dict[str, dict[str, Any]]:
    """The embedded default networks, by subnet name, as Ostia's Networking view shows them."""
    return {s["name"]: s for s in ostia_server.get_json("/v2.0/subnets")["subnets"]}


@pytest.fixture(scope="session")
def project() -> str:
    """The project the e2e objects belong to. noauth clients send no project header, so creates name it:
    `--project` (CLI, resolved through Ostia's identity view) or `project_id=` (SDK)."""
    return uuid.uuid4().hex
