"""What the operations need of the dispatcher, and the steps every change ends with.

`Farm` names the core parts the operations act through (the `Dispatcher`
provides them as attributes); no front sees these parts. `Area` is the base of
each area's operations: `finish` commits the change, writes the action-log line
with the actor's name and publishes the one event that describes the change.
"""

from __future__ import annotations

from typing import Any, Protocol

from dispatcher.activity import ActivityLog, LogFolder, MessageLog, StatisticsSampler
from dispatcher.auth import Users
from dispatcher.config import Settings
from dispatcher.control import NodeControl
from dispatcher.events import Event, EventBus
from dispatcher.logs import ActionLog, ChunkLogKeeper
from dispatcher.looplag import LoopLag
from dispatcher.metrics import Metrics
from dispatcher.nodes import NodeServer
from dispatcher.operations.actor import Actor
from dispatcher.queue import Queue
from dispatcher.records import Records
from dispatcher.software import Registry
from dispatcher.store.sqlite import SqliteStore
from dispatcher.streams import Streams
from hooks.catalog import TemplateCatalog
from hooks.lifecycle import Hooks
from hooks.supervisor import HookHost


class Farm(Protocol):
    """The dispatcher's parts, as the operations see them (attributes of `Dispatcher`)."""

    settings: Settings
    store: SqliteStore
    queue: Queue
    users: Users
    node_server: NodeServer
    control: NodeControl
    records: Records
    software: Registry
    templates: TemplateCatalog
    chunk_logs: ChunkLogKeeper
    actions: ActionLog
    activity: ActivityLog
    message_log: MessageLog
    action_logs: LogFolder
    sampler: StatisticsSampler
    hook_host: HookHost
    hooks: Hooks
    bus: EventBus
    streams: Streams
    metrics: Metrics
    loop_lag: LoopLag
    started_at: float
    render_address: tuple[str, int]

    def role_view(self) -> dict[str, Any]: ...


class Area:
    """One area's operations over the farm."""

    def __init__(self, farm: Farm) -> None:
        self.farm = farm

    def writable(self) -> None:
        """Refuse a change while the store cannot write (StoreUnavailable: 503, kErrStore),
        before the operation touches anything: a command sent to a render client or a
        live setting cannot be taken back when its commit is refused."""
        self.farm.store.ensure_writable()

    async def finish(self, actor: Actor, event: Event, /, **detail: Any) -> None:
        """The change is made: commit it, record who did it, publish its event."""
        await self.farm.store.commit()
        self.record(actor, event, **detail)

    def record(self, actor: Actor, event: Event, /, **detail: Any) -> None:
        """The action-log line and the event of a change that needs no commit."""
        self.farm.actions.record(actor.name, event.action, **detail)
        self.farm.bus.publish(event)
