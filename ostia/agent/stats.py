"""`show stat` over an LB's stats socket, as rows of {column: value} (used by heartbeats)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ostia.agent import procs


def show_stat(stats_socket: Path, timeout: float = 5.0) -> list[dict[str, str]]:
    text = procs.unix_command(stats_socket, "show stat", timeout)
    # The header line starts with "# pxname,svname,..."; every row ends with a trailing comma.
    text = text.lstrip("# ")
    return [{k: v for k, v in row.items() if k} for row in csv.DictReader(io.StringIO(text)) if row.get("pxname")]
