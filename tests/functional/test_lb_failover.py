"""Load balancer failover (PUT /loadbalancers/{id}/failover) on the noop drivers, which record every call:
amphorae are replaced one at a time (an ACTIVE_STANDBY pair keeps one serving amphora throughout, a SINGLE one
gets its replacement built before the old one goes), a failed replacement keeps the ones already done, and a
load balancer whose amphorae are not a complete set (after such a failure) is rebuilt from scratch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import taskflow.engines
from sqlalchemy import select, update

from ostia.db.models import Amphora, Job, LoadBalancer, utcnow
from ostia.jobs import store
from ostia.worker.flows import amphora as amphora_flows
from tests.functional import test_vrrp_flow
from tests.functional.test_amphorae import amphorae_of
from tests.functional.test_vrrp_flow import _flavor
from tests.support.controller import Api

ctl, api = test_vrrp_flow.ctl, test_vrrp_flow.api  # the same fixtures: a controller on SQLite, noop drivers


def _compute_ids(ctl: Any, amphora_ids: list[str]) -> dict[str, str]:
    with ctl.db.session() as session:
        return dict(session.execute(select(Amphora.compute_id, Amphora.id).where(Amphora.id.in_(amphora_ids)))
                    .tuples().all())


def _stages(api: Api, lb_id: str) -> list[str]:
    return [e["stage"] for e in api.get(f"/v2/lbaas/loadbalancers/{lb_id}/failover_timeline").json()[
        "failover_timeline"]]


def test_single_lb_failover_builds_the_replacement_before_deleting_the_old_one(ctl: Any, api: Api) -> None:
    lb = api.create_lb()
    (old,) = amphorae_of(api, lb["id"])
    before = len(ctl.drivers.compute.calls)
    assert api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202
    api.wait_lb(lb["id"])
    (new,) = [a for a in amphorae_of(api, lb["id"]) if a["status"] == "ALLOCATED"]
    assert new["id"] != old["id"] and new["role"] == "STANDALONE"
    calls = ctl.drivers.compute.calls[before:]
    old_compute = {v: k for k, v in _compute_ids(ctl, [old["id"]]).items()}[old["id"]]
    assert calls.index(("build", (new["id"], lb["id"]))) < calls.index(("delete", (old_compute,)))
    assert _stages(api, lb["id"]) == ["TRAFFIC_RESTORED", "REDUNDANCY_RESTORED"]
    with ctl.db.session() as session:
        job = session.scalars(select(Job).where(Job.kind == "load_balancer.failover")).one()
        assert (job.state, job.payload["amphora_ids"]) == ("DONE", [old["id"]])


def test_a_failed_replacement_keeps_the_ones_done_and_a_second_failover_rebuilds(ctl: Any, api: Api) -> None:
    lb = api.create_lb(flavor_id=_flavor(api, "ACTIVE_STANDBY"))
    old = {a["role"]: a for a in amphorae_of(api, lb["id"])}
    compute = ctl.drivers.compute
    real_build, builds = compute.build, []

    def second_build_fails(amphora_id: str, load_balancer_id: str | None) -> Any:
        builds.append(amphora_id)
        if len(builds) == 2:
            raise RuntimeError("no capacity")
        return real_build(amphora_id, load_balancer_id)

    compute.build = second_build_fails
    assert api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202
    api.wait_lb(lb["id"], "ERROR")
    rows = amphorae_of(api, lb["id"])
    serving = {a["role"]: a for a in rows if a["status"] == "ALLOCATED"}
    # The new BACKUP stays in service beside nothing else: the MASTER whose replacement failed is ERROR.
    assert set(serving) == {"BACKUP"} and serving["BACKUP"]["id"] == builds[0] != old["BACKUP"]["id"]
    assert sorted((a["role"], a["status"]) for a in rows) == [("BACKUP", "ALLOCATED"), ("MASTER", "ERROR"),
                                                              ("MASTER", "ERROR")]
    assert _stages(api, lb["id"]) == ["TRAFFIC_RESTORED", "REDUNDANCY_RESTORED", "TRAFFIC_RESTORED", "FAILED"]

    # Two MASTER rows: not a set to replace in turn. The failover deletes what is left and builds a new pair.
    compute.build = real_build
    assert api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202
    api.wait_lb(lb["id"])
    rows = amphorae_of(api, lb["id"])
    assert sorted((a["role"], a["status"]) for a in rows) == [("BACKUP", "ALLOCATED"), ("MASTER", "ALLOCATED")]
    assert not {a["id"] for a in rows} & {*builds, old["MASTER"]["id"], old["BACKUP"]["id"]}
    with ctl.db.session() as session:
        last = session.scalars(select(Job).where(Job.kind == "load_balancer.failover")
                               .order_by(Job.created_at.desc())).first()
        assert last is not None and (last.state, last.payload["amphora_ids"]) == ("DONE", [])


def test_a_resumed_failover_keeps_the_replacement_already_made(ctl: Any, api: Api) -> None:
    """A worker died after replacing the BACKUP: the job, swept up again, builds only the MASTER's replacement."""
    lb = api.create_lb(flavor_id=_flavor(api, "ACTIVE_STANDBY"))
    old = {a["role"]: a for a in amphorae_of(api, lb["id"])}
    with ctl.db.session() as session:
        session.execute(update(LoadBalancer).where(LoadBalancer.id == lb["id"])
                        .values(provisioning_status="PENDING_UPDATE"))
    taskflow.engines.run(amphora_flows.replacement(ctl.db, ctl.drivers),
                         store={"lb_id": lb["id"], "amphora_id": old["BACKUP"]["id"]}, engine="serial")
    (new_backup,) = [a for a in amphorae_of(api, lb["id"]) if a["role"] == "BACKUP"]
    builds_before = [args[0] for name, args in ctl.drivers.compute.calls if name == "build"]
    with ctl.db.session() as session:  # the job as the dead worker left it: RUNNING, lease long gone
        job = store.add_job(session, "load_balancer.failover",
                            {"id": lb["id"], "amphora_ids": [old["BACKUP"]["id"], old["MASTER"]["id"]]}, lb["id"])
        job.state, job.owner, job.attempts = "RUNNING", "dead-worker", 1
        job.lease_expires_at = utcnow() - dt.timedelta(seconds=30)
        job_id = job.id
    api.wait_lb(lb["id"])  # the controller's worker sweeps every 0.5 s
    with ctl.db.session() as session:
        assert session.get_one(Job, job_id).state == "DONE"
    rows = {a["role"]: a for a in amphorae_of(api, lb["id"])}
    assert rows["BACKUP"]["id"] == new_backup["id"]  # kept, not rebuilt
    assert rows["MASTER"]["id"] != old["MASTER"]["id"]
    builds = [args[0] for name, args in ctl.drivers.compute.calls if name == "build"][len(builds_before):]
    assert builds == [rows["MASTER"]["id"]]
