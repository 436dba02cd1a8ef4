"""Job kind → taskflow flow. Job payloads carry ids only; tasks read current rows themselves."""

from __future__ import annotations

from typing import Any

from taskflow.patterns import linear_flow

from ostia.db.engine import Database
from ostia.db.models import Job
from ostia.domain import providers
from ostia.drivers.registry import Drivers
from ostia.worker.flows import amphora, children, load_balancer

CHILD_KINDS = ("listener", "pool", "member", "health_monitor", "l7policy", "l7rule")


def build(job: Job, db: Database, drivers: Drivers, provider: str | None) -> tuple[linear_flow.Flow, dict[str, Any]]:
    """The flow for a job and its store. `noop_driver` LBs run the same flows without driver tasks."""
    real = providers.canonical(provider or providers.AMPHORA) != providers.NOOP
    resource, _, op = job.kind.partition(".")
    payload = job.payload
    lb_id = job.load_balancer_id or payload.get("id", "")
    store: dict[str, Any] = {"lb_id": lb_id}
    if resource == "load_balancer":
        if op == "failover":
            store["amphora_ids"] = list(payload.get("amphora_ids", []))
            return load_balancer.failover(db, drivers, real, store["amphora_ids"]), store
        builder = {"create": load_balancer.create, "update": load_balancer.update,
                   "delete": load_balancer.delete}[op]
        return builder(db, drivers, real), store
    if resource == "amphora":  # amphora API jobs: failover / config / delete of one amphora
        store["amphora_id"] = payload["amphora_id"]
        return amphora.build(op, db, drivers, spare=not lb_id), store
    if resource in CHILD_KINDS:
        ids = list(payload.get("ids", []))
        store.update(kind=resource, ids=ids, delete_ids=ids if op == "delete" else [])
        if op == "batch":  # batch member update: some created/updated, some removed
            store.update(ids=list(payload.get("ids", [])) + list(payload.get("delete_ids", [])),
                         delete_ids=list(payload.get("delete_ids", [])))
        flow = children.change(job.kind, db, drivers, real, plugs_members=resource == "member",
                               deletes=op in ("delete", "batch"))
        return flow, store
    raise ValueError(f"unknown job kind {job.kind!r}")
