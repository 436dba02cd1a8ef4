"""Keystone mode (§7): real tokens from a real Keystone, auth_token in front of Ostia, Octavia's RBAC defaults."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import OSTIA
from tests.support import keystone as keystone_support

pytestmark = [pytest.mark.e2e, pytest.mark.keystone]

LBS = "/v2/lbaas/loadbalancers"
PUBLIC_SUBNET = "d05a7bde-cca3-5925-ad49-7a8b3df07363"
POLICY = "Policy does not allow this request to be performed."
UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}


@contextlib.contextmanager
def clients(cloud: keystone_support.KeystoneCloud, *users: str) -> Iterator[dict[str, httpx.Client]]:
    with contextlib.ExitStack() as stack:
        yield {user: stack.enter_context(cloud.client(user)) for user in users}


def refused(resp: httpx.Response) -> None:
    assert resp.status_code == 403, resp.text
    assert resp.json()["faultstring"] == POLICY


def ids(resp: httpx.Response) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {lb["id"] for lb in resp.json()["loadbalancers"]}


def wait_active(client: httpx.Client, lb_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lb = client.get(f"{LBS}/{lb_id}").json()["loadbalancer"]
        if lb["provisioning_status"] == "ACTIVE":
            return dict(lb)
        time.sleep(0.1)
    raise AssertionError(f"{lb_id} never became ACTIVE")


def create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    resp = client.post(LBS, json={"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET, **fields}})
    assert resp.status_code == 201, resp.text
    return dict(resp.json()["loadbalancer"])


def test_tokens_public_paths_and_spoofed_identity(keystone: keystone_support.KeystoneCloud) -> None:
    with keystone.client(None) as anon:
        root = anon.get("/")
        assert root.status_code == 200
        assert root.json()["versions"][-1]["id"] == "v2.30"
        spoofed = {"X-Identity-Status": "Confirmed", "X-Project-Id": keystone.projects["project_a"],
                   "X-Roles": "admin", "X-User-Id": "someone"}
        for headers in ({}, {"X-Auth-Token": "not-a-token"}, spoofed):
            for resp in (anon.get(LBS, headers=headers), anon.post(LBS, json={"bogus": 1}, headers=headers),
                         anon.get(f"{LBS}/{PUBLIC_SUBNET}", headers=headers)):
                assert resp.status_code == 401, (headers, resp.text)
                assert resp.json() == UNAUTHORIZED
                assert resp.headers["www-authenticate"] == f'Keystone uri="{keystone.auth_url}"'
    # A valid token of a user without load-balancer roles: identity headers it adds change nothing.
    with keystone.client("norole_a") as norole:
        refused(norole.get(LBS))
        refused(norole.get(LBS, headers={"X-Roles": "admin,load-balancer_admin", "X-Is-Admin-Project": "True",
                                         "X-Project-Id": keystone.projects["admin"]}))
        refused(norole.post(LBS, json={"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET}},
                            headers={"X-Roles": "load-balancer_member"}))


def test_openstacksdk_password_auth_through_catalog(keystone: keystone_support.KeystoneCloud) -> None:
    conn = keystone.connect("member_a")
    try:
        subnet = conn.network.find_subnet("public-subnet", ignore_missing=False)  # the `network` catalog entry
        assert subnet.id == PUBLIC_SUBNET
        lb = conn.load_balancer.create_load_balancer(name="ks-sdk", vip_subnet_id=subnet.id)
        assert lb.project_id == keystone.projects["project_a"]
        lb = conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        assert lb.provisioning_status == "ACTIVE"
        assert lb.id in {x.id for x in conn.load_balancer.load_balancers()}
        conn.load_balancer.delete_load_balancer(lb.id)
        conn.load_balancer.wait_for_delete(lb, interval=1, wait=60)
    finally:
        conn.close()


def test_roles_and_project_scoping(keystone: keystone_support.KeystoneCloud) -> None:
    project_a, project_b = keystone.projects["project_a"], keystone.projects["project_b"]
    users = ("admin", "member_a", "observer_a", "reader_a", "norole_a", "member_b", "global_obs")
    with clients(keystone, *users) as c:
        lb_a = create(c["member_a"], name="ks-a")
        assert lb_a["project_id"] == project_a
        lb_b = create(c["member_b"], name="ks-b", project_id=project_b)  # own project named explicitly: fine
        assert lb_b["project_id"] == project_b
        # Only admins create for another project (policy target = the body's project).
        refused(c["member_a"].post(LBS, json={"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET,
                                                                "project_id": project_b}}))
        lb_admin = create(c["admin"], name="ks-admin-for-b", project_id=project_b)
        assert lb_admin["project_id"] == project_b
        for lb in (lb_a, lb_b, lb_admin):
            wait_active(c["admin"], lb["id"])
        a, b, for_b = f"{LBS}/{lb_a['id']}", f"{LBS}/{lb_b['id']}", f"{LBS}/{lb_admin['id']}"

        # Project members and observers see their own project only; asking for another one is refused.
        for user in ("member_a", "observer_a", "reader_a"):
            listed = c[user].get(LBS)
            assert lb_a["id"] in ids(listed) and lb_b["id"] not in ids(listed)
            assert {lb["project_id"] for lb in listed.json()["loadbalancers"]} == {project_a}
            assert lb_a["id"] in ids(c[user].get(LBS, params={"project_id": project_a}))
            refused(c[user].get(LBS, params={"project_id": project_b}))
            assert c[user].get(a).json()["loadbalancer"]["id"] == lb_a["id"]
            assert c[user].get(f"{a}/status").status_code == 200
            assert c[user].get(f"{a}/stats").status_code == 200
            refused(c[user].get(b))
        assert ids(c["member_b"].get(LBS)) >= {lb_b["id"], lb_admin["id"]}
        assert lb_a["id"] not in ids(c["member_b"].get(LBS))
        for path in (a, f"{a}/status", f"{a}/stats"):
            refused(c["member_b"].get(path))
        refused(c["member_b"].put(a, json={"loadbalancer": {"name": "stolen"}}))
        refused(c["member_b"].delete(a))

        # Observers (legacy and new-default roles) read but never write.
        for user in ("observer_a", "reader_a"):
            refused(c[user].post(LBS, json={"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET}}))
            refused(c[user].put(a, json={"loadbalancer": {"name": "nope"}}))
            refused(c[user].delete(a))

        # No load-balancer role at all: 403 on everything, even in its own project.
        for resp in (c["norole_a"].get(LBS), c["norole_a"].get(a), c["norole_a"].get(f"{a}/status")):
            refused(resp)

        # Global observer: every project, project filter honoured, still read-only.
        assert ids(c["global_obs"].get(LBS)) >= {lb_a["id"], lb_b["id"], lb_admin["id"]}
        only_a = c["global_obs"].get(LBS, params={"project_id": project_a})
        assert lb_a["id"] in ids(only_a) and lb_b["id"] not in ids(only_a)
        assert c["global_obs"].get(a).status_code == 200
        refused(c["global_obs"].post(LBS, json={"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET}}))

        # Admin: all projects, or one with ?project_id=.
        assert ids(c["admin"].get(LBS)) >= {lb_a["id"], lb_b["id"], lb_admin["id"]}
        scoped = c["admin"].get(LBS, params={"project_id": project_a})
        assert lb_a["id"] in ids(scoped) and not ids(scoped) & {lb_b["id"], lb_admin["id"]}
        assert {lb["project_id"] for lb in scoped.json()["loadbalancers"]} == {project_a}
        assert c["admin"].get(a).status_code == 200

        # Failover is admin only, even for the owner.
        for user in ("member_a", "observer_a", "global_obs"):
            refused(c[user].put(f"{a}/failover"))
        resp = c["admin"].put(f"{a}/failover")
        assert resp.status_code == 202, resp.text
        wait_active(c["admin"], lb_a["id"])

        # Members write in their own project.
        resp = c["member_a"].put(a, json={"loadbalancer": {"name": "renamed"}})
        assert resp.status_code == 200, resp.text
        assert resp.json()["loadbalancer"]["name"] == "renamed"
        wait_active(c["admin"], lb_a["id"])
        for client, path in ((c["member_a"], a), (c["member_b"], b), (c["member_b"], for_b)):
            resp = client.delete(path)
            assert resp.status_code == 204, resp.text


def test_metrics_need_no_token_and_the_progress_command_authenticates_like_the_clients(
        keystone: keystone_support.KeystoneCloud, tmp_path: Path) -> None:
    with keystone.client(None) as anon:
        metrics = anon.get("/metrics")  # scrapers carry no token; the source check (loopback) lets this one in
        assert metrics.status_code == 200, metrics.text
        assert "ostia_api_request_duration_seconds" in metrics.text
        assert anon.get(LBS).status_code == 401
    with keystone.client("member_a") as member:
        lb = create(member, name="ks-wait")
    creds = keystone.credentials("member_a")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({f"OS_{k.upper()}": v for k, v in creds.items()}, HOME=str(tmp_path))
    # No endpoint given: password auth, then the catalog's load-balancer endpoint.
    done = subprocess.run([str(OSTIA), "loadbalancer", "wait", lb["id"], "--interval", "0.2", "--timeout", "60"],
                          capture_output=True, text=True, timeout=90, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.splitlines()[-1]
    assert f"loadbalancer {lb['id']}: ACTIVE/" in last and last.endswith("listeners 0/0 pools 0/0 members 0/0 ACTIVE")
    env["OS_PASSWORD"] = "wrong"
    refused_login = subprocess.run([str(OSTIA), "loadbalancer", "wait", lb["id"]], capture_output=True, text=True,
                                   timeout=90, env=env)
    assert refused_login.returncode == 1
    assert "cannot reach the API" in refused_login.stderr
