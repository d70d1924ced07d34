"""Smedge's pools over Corral's: ``Pool`` and get/create/rename/delete_pools.

A Corral pool has a stable UUID, kept through renames and restarts; it is the
``Pool.id``. Creating, renaming and deleting pools needs the administer
permission.
"""

import uuid
from typing import Any, Dict, List, Union

from ._link import SmedgeComponentError, call


class Pool:
    """A pool's ID and name. It equals a str (its ID's text or its name), a UUID (its
    ID) or another Pool (by ID when both have one, else by name)."""

    __slots__ = ("id", "name")

    def __init__(self, pool_id: Union[uuid.UUID, str, None], pool_name: str) -> None:
        if pool_id is not None and not isinstance(pool_id, uuid.UUID):
            pool_id = uuid.UUID(str(pool_id))
        self.id = pool_id
        self.name = pool_name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Pool):
            if self.id is not None and other.id is not None:
                return self.id == other.id
            return self.name == other.name
        if isinstance(other, uuid.UUID):
            return self.id == other
        if isinstance(other, str):
            parsed = _as_uuid(other)
            if parsed is not None and self.id is not None:
                return parsed == self.id
            return other == self.name
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self.id) if self.id is not None else hash(self.name)

    def __str__(self) -> str:
        return str(self.id) if self.id is not None else self.name

    def __repr__(self) -> str:
        return "Pool(%r, %r)" % (str(self.id) if self.id is not None else None, self.name)


AnyPoolType = Union[str, uuid.UUID, Pool]


def _as_uuid(text: str) -> Any:
    try:
        return uuid.UUID(text.strip())
    except (ValueError, AttributeError):
        return None


def _pool(view: Dict[str, Any]) -> Pool:
    return Pool(view.get("uuid"), view["name"])


def get_pools() -> List[Pool]:
    """Every pool: those nodes announce and those an administrator added."""
    return [_pool(view) for view in call("GET", "/pools/") if view.get("uuid")]


def find_pool(pool: AnyPoolType) -> Pool:
    """The pool a Pool, UUID, ID text or name names; SmedgeComponentError when none does."""
    if not isinstance(pool, (str, uuid.UUID, Pool)):
        raise TypeError("a pool is a Pool, a UUID or a str, not %s" % type(pool).__name__)
    pools = get_pools()
    if isinstance(pool, Pool) and pool.id is not None:
        matches = [known for known in pools if known.id == pool.id]
    elif isinstance(pool, Pool):
        matches = [known for known in pools if known.name == pool.name]
    else:
        matches = [known for known in pools if known == pool]
        if not matches and isinstance(pool, str):  # Smedge compares names case-insensitively
            matches = [known for known in pools if known.name.lower() == pool.lower()]
    if not matches:
        raise SmedgeComponentError("no pool %s" % (pool,), 404)
    return matches[0]


def pool_name(pool: AnyPoolType) -> str:
    """The Corral pool name for a job's "Pool" value (a Pool, its ID or its name)."""
    return find_pool(pool).name


def create_pools(names: Union[str, List[str]]) -> List[Pool]:
    """Create pools by name (administer); the new Pools, with their IDs."""
    wanted = [names] if isinstance(names, str) else names
    if not isinstance(wanted, (list, tuple)) or not all(isinstance(n, str) for n in wanted):
        raise TypeError("names: a pool name (str) or a list of them")
    return [_pool(call("POST", "/pools/", {"name": name})) for name in wanted]


def rename_pool(pool: AnyPoolType, new_name: str) -> Pool:
    """Give a pool a new name (administer); its ID stays. The renamed Pool."""
    if not isinstance(new_name, str):
        raise TypeError("new_name: a str")
    found = find_pool(pool)
    return _pool(call("POST", "/pools/%s/rename" % found.id, {"name": new_name}))


def delete_pools(pools: Union[AnyPoolType, List[AnyPoolType]]) -> None:
    """Delete pools (administer): a pool, its name or ID, or a list of them."""
    wanted = pools if isinstance(pools, (list, tuple)) else [pools]
    found = [find_pool(pool) for pool in wanted]
    for pool in found:
        call("DELETE", "/pools/%s" % pool.id)
