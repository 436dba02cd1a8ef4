"""An all-in-one controller (API app + real worker threads) on a given database, for functional tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient

from ostia import conf as conf_mod
from ostia.cli import bootstrap
from tests.support.processes import NOOP_DRIVERS


@contextlib.contextmanager
def running_controller(db_url: str, state_dir: str, **overrides: dict[str, object]) -> Iterator[bootstrap.Controller]:
    opts: dict[str, dict[str, object]] = {"DEFAULT": {"state_dir": state_dir}, "database": {"connection": db_url},
                                          "jobs": {"sweep_interval": 0.5},
                                          "controller_worker": dict(NOOP_DRIVERS)}
    for group, values in overrides.items():
        opts.setdefault(group, {}).update(values)
    conf = conf_mod.load([], opts)
    ctl = bootstrap.all_in_one(conf)
    assert ctl.worker is not None
    ctl.worker.start()
    try:
        yield ctl
    finally:
        ctl.worker.stop(wait=True)
        ctl.db.engine.dispose()


class Api:
    """A TestClient with Octavia conveniences: project header, root keys, waiting for ACTIVE."""

    def __init__(self, client: TestClient, project: str = "p1") -> None:
        self.client = client
        self.headers = {"X-Project-Id": project, "X-Auth-Token": "notused"}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        return self.client.post(path, json=body, headers=self.headers, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.client.put(path, json=body, headers=self.headers, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(path, headers=self.headers, **kw)

    def wait_lb(self, lb_id: str, status: str = "ACTIVE", timeout: float = 20.0) -> dict[str, Any]:
        """Poll the LB like the clients do; 'DELETED' waits for 404."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            resp = self.get(f"/v2/lbaas/loadbalancers/{lb_id}")
            if status == "DELETED" and resp.status_code == 404:
                return {}
            last = resp.json()
            if resp.status_code == 200 and last["loadbalancer"]["provisioning_status"] == status:
                return dict(last["loadbalancer"])
            time.sleep(0.05)
        raise AssertionError(f"load balancer {lb_id} never reached {status}: {last}")

    def create_lb(self, **fields: Any) -> dict[str, Any]:
        body = {"vip_subnet_id": "d05a7bde-cca3-5925-ad49-7a8b3df07363", **fields}  # seeded public-subnet
        resp = self.post("/v2/lbaas/loadbalancers", {"loadbalancer": body})
        assert resp.status_code == 201, resp.text
        lb = resp.json()["loadbalancer"]
        return self.wait_lb(lb["id"])
