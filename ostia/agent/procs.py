"""Running commands (optionally inside the amphora's network namespace), pids and unix-socket CLIs."""

from __future__ import annotations

import contextlib
import os
import signal
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


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not reaped yet by its parent) counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may itself contain spaces.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def terminate(pids: list[int], grace: float) -> bool:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL and wait again; True when all are gone."""
    for sig, bound in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            if not any(alive(p) for p in pids):
                return True
            time.sleep(0.05)
    return not any(alive(p) for p in pids)


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
