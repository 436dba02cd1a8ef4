"""All tables. Importing this module registers every model on `Base.metadata`."""

from ostia.db.models.amphora import Amphora, ListenerStatistics
from ostia.db.models.base import Base, new_id, utcnow
from ostia.db.models.catalog import AvailabilityZone, AvailabilityZoneProfile, Flavor, FlavorProfile
from ostia.db.models.health import AmphoraHealth, FailoverEvent
from ostia.db.models.job import Job
from ostia.db.models.l7 import L7Policy, L7Rule
from ostia.db.models.listener import Listener
from ostia.db.models.load_balancer import AdditionalVip, LoadBalancer
from ostia.db.models.network import Network, Port, Subnet
from ostia.db.models.pool import HealthMonitor, Member, Pool
from ostia.db.models.quota import QUOTA_FIELDS, Quota
from ostia.db.models.secret import TlsSecret
from ostia.db.models.tag import Tag

__all__ = [
    "QUOTA_FIELDS", "AdditionalVip", "Amphora", "AmphoraHealth", "FailoverEvent", "AvailabilityZone",
    "AvailabilityZoneProfile", "Base", "Flavor", "FlavorProfile", "HealthMonitor", "Job", "L7Policy", "L7Rule",
    "Listener", "ListenerStatistics", "LoadBalancer", "Member", "Network", "Pool", "Port", "Quota", "Subnet", "Tag",
    "TlsSecret", "new_id", "utcnow",
]
