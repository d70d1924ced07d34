"""Named records the dispatcher keeps for the hook API and the consoles.

Pools, repositories, groups, stored settings and the LDAP configuration are
small JSON objects named within their kind. They live in memory and every
change is recorded for the store (`put_record`), so it commits with the
loop tick's batch like any other change. Each kind has a revision number that
`notify` bumps: consoles poll it to learn that a kind changed.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Protocol

import msgspec

from dispatcher.errors import Conflict, NotFound, ValidationError

log = logging.getLogger(__name__)

KINDS = ("pool", "repository", "group", "config", "ldap", "software", "jobtype")
MAX_NAME_CHARS = 255


class RecordStore(Protocol):
    def put_record(self, kind: str, name: str, info: bytes | None) -> None: ...


class Records:
    """kind -> name -> dict, persisted through the store."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self.items: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self.revisions: dict[str, int] = dict.fromkeys(KINDS, 0)

    def load(self, rows: list[tuple[str, str, bytes]]) -> None:
        for kind, name, info in rows:
            if kind in self.items:
                self.items[kind][name] = msgspec.json.decode(info)

    def reload(self, rows: list[tuple[str, str, bytes]]) -> None:
        """Take the stored records again in place of these (a standby's refreshed view);
        a kind whose records changed gets a new revision."""
        before = copy.deepcopy(self.items)
        for table in self.items.values():
            table.clear()
        self.load(rows)
        for kind in KINDS:
            if self.items[kind] != before[kind]:
                self.revisions[kind] += 1

    def names(self, kind: str) -> list[str]:
        return sorted(self._kind(kind))

    def all(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(name, copy.deepcopy(info)) for name, info in sorted(self._kind(kind).items())]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        info = self._kind(kind).get(name)
        if info is None:
            raise NotFound(f"no {kind} named {name!r}")
        return copy.deepcopy(info)

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        info = self._kind(kind).get(name)
        return None if info is None else copy.deepcopy(info)

    def value(self, kind: str, name: str, key: str) -> Any:
        """One top-level value of a record (None when the record or the key is missing),
        without copying the record: for hot paths that read one setting. A list or dict
        returned is the stored one and must not be changed."""
        info = self._kind(kind).get(name)
        return None if info is None else info.get(key)

    def add(self, kind: str, name: str, info: dict[str, Any]) -> None:
        check_name(kind, name)
        if name in self._kind(kind):
            raise Conflict(f"a {kind} named {name!r} exists already")
        self.put(kind, name, info)

    def put(self, kind: str, name: str, info: dict[str, Any]) -> None:
        """Create or replace a record."""
        check_name(kind, name)
        self._kind(kind)[name] = copy.deepcopy(info)
        self.store.put_record(kind, name, msgspec.json.encode(info))
        log.info("action=record_saved kind=%s name=%s", kind, name)

    def remove(self, kind: str, name: str) -> None:
        if name not in self._kind(kind):
            raise NotFound(f"no {kind} named {name!r}")
        del self._kind(kind)[name]
        self.store.put_record(kind, name, None)
        log.info("action=record_removed kind=%s name=%s", kind, name)

    def restore(self, kind: str, name: str, info: bytes | None) -> None:
        """Put a record back to the store's copy (None: not stored) after a refused change."""
        if kind not in self.items:
            return
        if info is None:
            self.items[kind].pop(name, None)
        else:
            self.items[kind][name] = msgspec.json.decode(info)

    def notify(self, kind: str) -> int:
        """Bump the kind's revision (consoles reload on a change); returns it."""
        self._kind(kind)
        self.revisions[kind] += 1
        log.info("action=records_changed kind=%s revision=%d", kind, self.revisions[kind])
        return self.revisions[kind]

    def _kind(self, kind: str) -> dict[str, dict[str, Any]]:
        try:
            return self.items[kind]
        except KeyError:
            raise ValidationError(f"no record kind {kind!r}") from None


def check_name(kind: str, name: object) -> str:
    """A record name: 1-255 characters, no control characters, no commas (lists use them)."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"a {kind} needs a name", field="name")
    if len(name) > MAX_NAME_CHARS or any(ord(char) < 32 for char in name) or "," in name:
        raise ValidationError(
            f"{kind} name {name[:40]!r} is too long or has a comma or control character",
            field="name",
        )
    return name
