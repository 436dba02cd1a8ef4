"""Flows for objects under a load balancer (listener, pool, member, HM, L7 policy/rule).

They share one shape: a sentinel that marks the targets ERROR on revert, the configuration push
(ListenersUpdate), row deletes for removed objects, and the final ACTIVE marking of the tree.
"""

from __future__ import annotations

from taskflow.patterns import linear_flow

from ostia.db.engine import Database
from ostia.drivers.registry import Drivers
from ostia.worker.tasks import amphora, database, network


def change(name: str, db: Database, drivers: Drivers, real: bool, plugs_members: bool = False,
           deletes: bool = False) -> linear_flow.Flow:
    flow = linear_flow.Flow(name)
    flow.add(database.ObjectsToErrorOnRevert(db, drivers))
    if real:
        if plugs_members:
            flow.add(network.PlugMemberNetworks(db, drivers))
        flow.add(amphora.UpdateAmphoraConfig(db, drivers))
    if deletes:
        flow.add(database.DeleteObjectsInDB(db, drivers))
    flow.add(database.MarkLoadBalancerTreeActive(db, drivers))
    return flow
