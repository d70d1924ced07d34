"""Every farm operation, once. The fronts (REST in dispatcher/web/, the hook API in
hooks/service/, and those to come) translate their arguments into these calls and
their results and errors into their own shapes; none touches the core.

An operation takes an `Actor`, validates its input, checks the actor's
permission, runs the template hooks it triggers, changes the farm through the
core (queue, node control, records, users), waits until the change is durable,
writes the action-log line with the actor's name and publishes one event.
`Operations` holds one object per area; each public method is one operation.
"""

from __future__ import annotations

from dispatcher.operations.accounts import AccountOperations
from dispatcher.operations.actor import Actor, Permission
from dispatcher.operations.chunks import ChunkOperations
from dispatcher.operations.engines import EngineOperations
from dispatcher.operations.events import EventOperations
from dispatcher.operations.farm import Area, Farm
from dispatcher.operations.job_work import JobWorkOperations
from dispatcher.operations.jobs import JobOperations
from dispatcher.operations.metrics import MetricsOperations
from dispatcher.operations.nodes import NodeOperations
from dispatcher.operations.notifications import NotificationOperations
from dispatcher.operations.pools import PoolOperations
from dispatcher.operations.records import RecordOperations
from dispatcher.operations.software import SoftwareOperations
from dispatcher.operations.system import SystemOperations
from dispatcher.operations.template_config import TemplateConfigOperations

__all__ = ["Actor", "Area", "Farm", "Operations", "Permission"]


class Operations:
    """The farm's operations by area: `ops.jobs.edit(actor, 12, {...})`."""

    def __init__(self, farm: Farm) -> None:
        self.jobs = JobOperations(farm)
        self.job_work = JobWorkOperations(farm)
        self.chunks = ChunkOperations(farm)
        self.nodes = NodeOperations(farm)
        self.engines = EngineOperations(farm)
        self.accounts = AccountOperations(farm)
        self.pools = PoolOperations(farm)
        self.records = RecordOperations(farm)
        self.system = SystemOperations(farm)
        self.notifications = NotificationOperations(farm)
        self.events = EventOperations(farm)
        self.metrics = MetricsOperations(farm)
        self.software = SoftwareOperations(farm)
        self.accounts.ldap_config = lambda: getattr(self.system, "ldap", {})
        self.template_config = TemplateConfigOperations(farm)

    def areas(self) -> dict[str, Area]:
        return {name: area for name, area in vars(self).items() if isinstance(area, Area)}
