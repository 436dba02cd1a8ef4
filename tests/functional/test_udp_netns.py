"""With a network namespace, nginx serves inside it and every probe runs inside it (198.18 addresses never leave
the namespace); without one, 198.18 members are never probed from the host."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ostia.netns import join, run_in
from tests.functional.udp_support import (
    Agent,
    EchoServer,
    answers,
    member,
    running,
    spec,
    udp_port,
    unique_net,
    wait_for,
)

VIP, MEM_A, MEM_B, NOWHERE = "198.18.1.10", "198.18.2.21", "198.18.2.22", "198.18.9.9"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"ostia-udpt-{secrets.token_hex(4)}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        for address in (VIP, MEM_A, MEM_B):
            _ip("-n", name, "addr", "add", f"{address}/32", "dev", "lo")
        yield name
    finally:
        _ip("netns", "del", name)


def _monitor(kind: str) -> dict[str, Any]:
    return {"type": kind, "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 2}


def test_nginx_and_probes_run_inside_the_namespace(tmp_path: Path, netns: str) -> None:
    agent = Agent(tmp_path, namespace=netns)
    enter = lambda: join(netns)  # noqa: E731
    a, b = EchoServer("a", MEM_A, before=enter), EchoServer("b", MEM_B, before=enter)
    try:
        with running(a, b):
            body = spec(f"udp-{uuid.uuid4()}", VIP, 5353, [member("m-a", a), member("m-b", b)],
                        health_monitor=_monitor("UDP-CONNECT"))
            lid = body["id"]
            resp = agent.put(body)
            assert resp.status_code == 200, resp.text
            got = run_in(netns, answers, VIP, 5353, 4)
            assert set(got) == {"a", "b"}
            b.stop()
            wait_for(lambda: agent.service.member_status(lid)["m-b"] == "DOWN", 5)
            wait_for(lambda: run_in(netns, answers, VIP, 5353, 3) == ["a"] * 3, 5)
            b.start()
            wait_for(lambda: agent.service.member_status(lid)["m-b"] == "UP", 4)

            ping = spec(f"udp-{uuid.uuid4()}", VIP, 5354,
                        [member("m-a", a), {"id": "m-gone", "address": NOWHERE, "protocol_port": 53}],
                        health_monitor=_monitor("PING"))
            assert agent.put(ping).status_code == 200
            wait_for(lambda: agent.service.member_status(ping["id"]) == {"m-a": "UP", "m-gone": "DOWN"}, 5)
    finally:
        agent.close()


def test_fabric_members_are_not_probed_from_the_host(tmp_path: Path) -> None:
    agent = Agent(tmp_path, namespace=None)
    try:
        vip = f"{unique_net()}.10"
        body = spec(f"udp-{uuid.uuid4()}", vip, udp_port(vip),
                    [{"id": "m-far", "address": MEM_A, "protocol_port": 53}], health_monitor=_monitor("UDP-CONNECT"))
        assert agent.put(body).status_code == 200
        wait_for(lambda: agent.service.member_status(body["id"]) == {"m-far": "no check"}, 3)
    finally:
        agent.close()
