"""File helpers: checksums, the names the agent accepts from the wire (atomic private writes: ostia.files)."""

from __future__ import annotations

import contextlib
import hashlib
import re
from pathlib import Path

# Ids and file names become path components: no separators, no leading dot, nothing hidden or relative.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,254}$")
_CERT_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.(pem|crt-list)$")
# Directories under base_path that are not load balancers.
RESERVED = frozenset({"certs", "vrrp", "lvs", "udp"})


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def is_safe_id(value: str) -> bool:
    return bool(_SAFE_NAME.match(value)) and value not in RESERVED


def is_cert_filename(value: str) -> bool:
    return bool(_CERT_NAME.match(value)) and len(value) <= 255


def unlink_quiet(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
