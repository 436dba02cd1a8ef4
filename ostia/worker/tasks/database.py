"""Tasks that only touch the database: lifecycle sentinels, status marks and row deletes."""

from __future__ import annotations

from typing import Any

from ostia.db.repositories import tree
from ostia.worker.tasks.base import LOG, OstiaTask


class LoadBalancerToErrorOnRevert(OstiaTask):
    """First task of LB-level flows: nothing on execute; on revert the LB (and its pending tree) is ERROR."""

    def execute(self, lb_id: str) -> None:
        pass

    def revert(self, lb_id: str, *args: Any, **kwargs: Any) -> None:
        LOG.warning("lb=%s flow reverted: marking ERROR", lb_id)
        with self.db.session() as session:
            tree.fail_load_balancer(session, lb_id)


class ObjectsToErrorOnRevert(OstiaTask):
    """First task of child flows: on revert the targets go ERROR and their parents back to ACTIVE."""

    def execute(self, lb_id: str, kind: str, ids: list[str]) -> None:
        pass

    def revert(self, lb_id: str, kind: str, ids: list[str], *args: Any, **kwargs: Any) -> None:
        LOG.warning("lb=%s %s=%s flow reverted: marking ERROR", lb_id, kind, ",".join(ids))
        with self.db.session() as session:
            tree.fail_targets(session, lb_id, kind, ids)


class DeleteObjectsInDB(OstiaTask):
    def execute(self, kind: str, delete_ids: list[str]) -> None:
        with self.db.session() as session:
            tree.delete_objects(session, kind, delete_ids)


class MarkLoadBalancerTreeActive(OstiaTask):
    """Last task of create/update flows: the LB and everything pending under it become ACTIVE."""

    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            tree.activate_tree(session, lb_id)


class MarkLoadBalancerDeleted(OstiaTask):
    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            tree.delete_load_balancer_tree(session, lb_id)
