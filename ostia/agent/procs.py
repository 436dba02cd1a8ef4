"""Running commands (optionally inside the amphora's network namespace) and unix-socket CLIs.

Pids and stopping processes: ostia.process."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str  # stdout and stderr interleaved, as an operator would read them

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def in_netns(namespace: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", namespace, *argv] if namespace else argv


def run(argv: list[str], timeout: float, namespace: str = "") -> Result:
    try:
        proc = subprocess.run(in_netns(namespace, argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        return Result(127, str(exc))
    except subprocess.TimeoutExpired as exc:
        out = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else ""
        return Result(124, f"{out}\ntimed out after {timeout}s")
    return Result(proc.returncode, proc.stdout.decode(errors="replace"))


def unix_command(path: Path, command: str, timeout: float = 5.0) -> str:
    """One command on a HAProxy CLI socket (stats or master): send, half-close, read to EOF.

    The half-close matters: the master CLI keeps the connection open until it sees the end of input.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(command.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")
