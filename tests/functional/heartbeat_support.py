"""A health manager stand-in (a UDP socket decoding every beat) and a real agent configured to send heartbeats."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ostia import heartbeat
from tests.support.agent import Agent

KEY = "test-heartbeat-key"
INTERVAL = 0.2


class Receiver:
    """A health manager stand-in: a UDP socket on 127.0.0.1 keeping every datagram it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.target = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.packets: list[bytes] = []
        self.beats: list[dict[str, Any]] = []

    def drain(self) -> None:
        while True:
            try:
                packet = self.sock.recv(65536)
            except TimeoutError:
                return
            self.packets.append(packet)
            self.beats.append(heartbeat.decode(packet, KEY))

    def wait(self, condition: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        """The first beat from now on that satisfies `condition`."""
        seen = len(self.beats)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.drain()
            for beat in self.beats[seen:]:
                if condition(beat):
                    return beat
            seen = len(self.beats)
        raise AssertionError(f"no such heartbeat within {timeout}s; last: {self.beats[-1:]}")

    def close(self) -> None:
        self.sock.close()


def heartbeat_agent(workdir: Path, targets: list[str], interval: float = INTERVAL) -> Agent:
    agent = Agent(workdir)
    with agent.conf.open("a") as conf:  # [amphora_agent] is the file's only section
        conf.write(f"controller_ip_port_list = {','.join(targets)}\nheartbeat_key = {KEY}\n"
                   f"heartbeat_interval = {interval}\n")
    return agent

