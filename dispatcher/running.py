"""The attempts in flight, by chunk, with an index by node.

`RunningTable` is the queue's `running` dict ((job id, chunk) -> a record with a
`node_id`) that also keeps, per node, the chunks it runs: a handshake reconciles
its node's attempts and a lost node gives its attempts back without a walk over
every running attempt (with 10,000 nodes busy, a walk per handshake made the
connect time grow with the square of the fleet).

Every way a dict can change is routed through the index; a record's `node_id`
must not change in place (the queue replaces the record instead).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

Key = tuple[int, int]


class _OnNode(Protocol):
    node_id: int


V = TypeVar("V", bound=_OnNode)

_MISSING: Any = object()


class RunningTable(dict[Key, V]):
    """A dict of running attempts that knows each node's chunks (in start order)."""

    __slots__ = ("_by_node",)

    def __init__(self, items: Iterable[tuple[Key, V]] = ()) -> None:
        super().__init__()
        self._by_node: dict[int, dict[Key, None]] = {}
        for key, value in items:
            self[key] = value

    # -- the index -----------------------------------------------------------------
    def on_node(self, node_id: int) -> list[Key]:
        """The (job id, chunk) keys running on `node_id`, oldest first."""
        keys = self._by_node.get(node_id)
        return list(keys) if keys else []

    def nodes(self) -> set[int]:
        """The nodes running at least one attempt."""
        return set(self._by_node)

    def _unlink(self, key: Key, value: V) -> None:
        keys = self._by_node.get(value.node_id)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._by_node[value.node_id]

    # -- every mutator of dict -----------------------------------------------------
    # (the two mutators of every attempt's start and end: the index inline, no super())
    def __setitem__(self, key: Key, value: V) -> None:
        old = dict.get(self, key, _MISSING)
        if old is not _MISSING:
            self._unlink(key, old)
        dict.__setitem__(self, key, value)
        keys = self._by_node.get(value.node_id)
        if keys is None:
            self._by_node[value.node_id] = {key: None}
        else:
            keys[key] = None

    def __delitem__(self, key: Key) -> None:
        value = dict.pop(self, key)
        by_node = self._by_node
        keys = by_node.get(value.node_id)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del by_node[value.node_id]

    def pop(self, key: Key, default: Any = _MISSING) -> Any:
        value = super().get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
        del self[key]
        return value

    def popitem(self) -> tuple[Key, V]:
        key, value = super().popitem()
        self._unlink(key, value)
        return key, value

    def setdefault(self, key: Key, default: Any = None) -> Any:
        if key in self:
            return self[key]
        self[key] = default
        return default

    def update(self, *others: Any) -> None:  # type: ignore[override]
        for other in others:
            pairs = other.items() if hasattr(other, "items") else other
            for key, value in pairs:
                self[key] = value

    def __ior__(self, other: Any) -> RunningTable[V]:  # type: ignore[override,misc]
        self.update(other)
        return self

    def clear(self) -> None:
        super().clear()
        self._by_node.clear()
