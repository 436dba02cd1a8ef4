"""Tasks that push the load balancer's desired state to its amphorae through the amphora driver."""

from __future__ import annotations

from ostia.worker.tasks.base import OstiaTask
from ostia.worker.tasks.compute import live_amphorae


class UpdateAmphoraConfig(OstiaTask):
    """ListenersUpdate: render and apply the whole configuration on every amphora of the LB."""

    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            amp_ids = [a.id for a in live_amphorae(session, lb_id)]
        self.drivers.amphora.update(lb_id, amp_ids)


class RemoveAmphoraConfig(OstiaTask):
    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            amp_ids = [a.id for a in live_amphorae(session, lb_id)]
        self.drivers.amphora.remove(lb_id, amp_ids)
