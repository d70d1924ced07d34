"""Wiring the store's refusals back into the dispatcher's memory.

When the store refuses a batch (dispatcher/store/sqlite.py), every change in it
is taken back: the queue's jobs, nodes and failure memory, the users and the
named records return to the store's copy, so nothing refused stays in memory
as if it had been acknowledged. While the store cannot write, the scheduler
assigns nothing (an assignment must be durable before it is sent); when it can
again, the scheduler is kicked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from dispatcher.store.batch import Refusal

if TYPE_CHECKING:
    from dispatcher.auth import Users
    from dispatcher.queue import Queue
    from dispatcher.records import Records
    from dispatcher.scheduler import Scheduler
    from dispatcher.store.sqlite import SqliteStore

log = logging.getLogger(__name__)


def take_back(refusal: Refusal, queue: Queue, users: Users, records: Records) -> None:
    queue.take_back(refusal)
    for name, info in refusal.users.items():
        users.restore(name, info)
    for (kind, name), info in refusal.records.items():
        records.restore(kind, name, info)


def store_wiring(
    store: SqliteStore,
    queue: Queue,
    users: Users,
    records: Records,
    scheduler: Scheduler,
    fatal: Callable[[BaseException], None],
) -> None:
    """Connect the store's callbacks to the parts whose memory it guards."""
    store.on_refused = lambda refusal: take_back(refusal, queue, users, records)
    store.on_available = scheduler.kick
    store.on_fatal = fatal
