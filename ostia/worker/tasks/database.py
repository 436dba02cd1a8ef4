"""Tasks that only touch the database: lifecycle sentinels, status marks and row deletes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ostia.db.engine import Database
from ostia.db.repositories import tree
from ostia.db.retry import retry_on_deadlock
from ostia.worker.tasks.base import LOG, OstiaTask


@retry_on_deadlock
def in_transaction(db: Database, change: Callable[..., None], *args: Any) -> None:
    """One tree change in its own transaction, run again if it was a deadlock victim (a health manager or an
    API request locks the same rows in another order): a lost status write must not revert a flow."""
    with db.session() as session:
        change(session, *args)


class LoadBalancerToErrorOnRevert(OstiaTask):
    """First task of LB-level flows: nothing on execute; on revert the LB (and its pending tree) is ERROR."""

    def execute(self, lb_id: str) -> None:
        pass

    def revert(self, lb_id: str, *args: Any, **kwargs: Any) -> None:
        LOG.warning("lb=%s flow reverted: marking ERROR", lb_id)
        in_transaction(self.db, tree.fail_load_balancer, lb_id)


class ObjectsToErrorOnRevert(OstiaTask):
    """First task of child flows: on revert the targets go ERROR and their parents back to ACTIVE."""

    def execute(self, lb_id: str, kind: str, ids: list[str]) -> None:
        pass

    def revert(self, lb_id: str, kind: str, ids: list[str], *args: Any, **kwargs: Any) -> None:
        LOG.warning("lb=%s %s=%s flow reverted: marking ERROR", lb_id, kind, ",".join(ids))
        in_transaction(self.db, tree.fail_targets, lb_id, kind, ids)


class DeleteObjectsInDB(OstiaTask):
    def execute(self, kind: str, delete_ids: list[str]) -> None:
        in_transaction(self.db, tree.delete_objects, kind, delete_ids)


class MarkLoadBalancerTreeActive(OstiaTask):
    """Last task of create/update flows: the LB and everything pending under it become ACTIVE."""

    def execute(self, lb_id: str) -> None:
        in_transaction(self.db, tree.activate_tree, lb_id)


class MarkLoadBalancerDeleted(OstiaTask):
    def execute(self, lb_id: str) -> None:
        in_transaction(self.db, tree.delete_load_balancer_tree, lb_id)
