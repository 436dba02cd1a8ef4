"""The HTTPS client of the amphora agent API 1.0 (mutual TLS; the agent's certificate must name the amphora id)."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

LOG = logging.getLogger("ostia.drivers.amphora")
API = "1.0"


class AgentError(Exception):
    """The agent refused a call, or could not be reached within the retry budget."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AgentClient:
    def __init__(self, ssl_context: ssl.SSLContext, port: int, *, connect_timeout: float, read_timeout: float,
                 retries: int, retry_interval: float, wait_interval: float,
                 refresh: Callable[[], ssl.SSLContext | None] | None = None) -> None:
        self.port = port
        self.retries = retries
        self.retry_interval = retry_interval
        self.wait_interval = wait_interval  # polling a starting agent: short, it answers within a second
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        # Returns a new context after a CA rotation or a renewed client certificate (None: keep the current one)
        self._refresh = refresh
        self._http = self._client(ssl_context)

    def _client(self, ssl_context: ssl.SSLContext) -> httpx.Client:
        return httpx.Client(verify=ssl_context, timeout=self._timeout, trust_env=False)

    def _current(self) -> httpx.Client:
        fresh = self._refresh() if self._refresh is not None else None
        if fresh is not None:
            # The previous client is not closed: another thread may be mid-request on it (its pool goes with it)
            self._http = self._client(fresh)
        return self._http

    def close(self) -> None:
        self._http.close()

    def url(self, address: str, path: str) -> str:
        host = f"[{address}]" if ":" in address else address
        return f"https://{host}:{self.port}{path}"

    def call(self, amphora_id: str, address: str, method: str, path: str, *, ok: tuple[int, ...] = (200, 202),
             retries: int | None = None, **kwargs: Any) -> httpx.Response:
        """One API call; connection failures are retried (the agent may be restarting), answers are not."""
        attempts = max(1, self.retries if retries is None else retries)
        url = self.url(address, path if path == "/" else f"/{API}{path}")
        for attempt in range(1, attempts + 1):
            try:
                # The agent's certificate carries the amphora id as its name: check it as the TLS hostname.
                resp = self._current().request(method, url, extensions={"sni_hostname": amphora_id}, **kwargs)
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise AgentError(f"amp={amphora_id} agent at {address} unreachable: {exc!r}") from exc
                time.sleep(self.retry_interval)
                continue
            if resp.status_code not in ok:
                raise AgentError(f"amp={amphora_id} {method} {path}: {resp.status_code} {_detail(resp)}",
                                 resp.status_code)
            return resp
        raise AssertionError("unreachable")

    def wait_ready(self, amphora_id: str, address: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                self.call(amphora_id, address, "GET", "/", retries=1)
                return
            except AgentError as exc:
                last = exc
                time.sleep(self.wait_interval)
        raise AgentError(f"amp={amphora_id} agent did not answer within {timeout}s: {last}")


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:2000]
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("message", "error", "details") if body.get(k)]
        return ": ".join(parts) or str(body)
    return str(body)
