"""Smedge's engines over Corral's render nodes.

An engine is one render node (a render client instance). Engines are chosen by
name (the node's name, ``host`` or ``host#instance``), by ID (the node's stable
UUID), by regular expressions matched against the whole name (case-insensitive),
or, with none of these, the engines of this machine. Enabling and disabling
resume and pause nodes; settings and event commands (``WorkFinishedSuccessfulEvt``,
``WorkFinishedUnsuccessfulEvt``) are stored per node by the dispatcher, and the
event commands run on the node's render client after each chunk it finishes.
Changes need the manage-nodes permission.
"""

import re
import socket
import uuid
from typing import Any, Dict, List, Optional, Union

from ._link import NameOrID, NameOrIDList, SmedgeComponentError, call

RegexList = Union[str, List[str]]
EngineType = Dict[str, Any]


def _nodes() -> List[Dict[str, Any]]:
    return list(call("GET", "/nodes/"))


def _status(node: Dict[str, Any]) -> str:
    if not node.get("online"):
        return "Offline"
    if node.get("paused"):
        return "Disabled"
    return "Busy" if node.get("running") else "Idle"


def _as_list(value: Any, what: str, kinds: tuple) -> List[Any]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if not isinstance(item, kinds):
            raise TypeError(
                "%s: %s or a list of them, not %s"
                % (what, " or ".join(kind.__name__ for kind in kinds), type(item).__name__)
            )
    return items


def _local_names() -> List[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    return sorted({name.lower() for name in names} | {name.split(".")[0].lower() for name in names})


def _machine(node: Dict[str, Any]) -> set:
    """The names of the machine a node runs on: the host it reports, and its own name."""
    names = {str(node.get("host", "")), str(node.get("host_name", ""))}
    return {name.lower() for name in names if name} | {
        name.split(".")[0].lower() for name in names if name
    }


def select(
    engines: Optional[NameOrIDList] = None,
    regex: Optional[RegexList] = None,
    nodes: Optional[List[Dict[str, Any]]] = None,
) -> List[Dict[str, Any]]:
    """The node views the engines, IDs and patterns name (none: this machine's)."""
    wanted = [] if engines is None else _as_list(engines, "engines", (str, uuid.UUID))
    patterns = [] if regex is None else _as_list(regex, "regex", (str,))
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise ValueError("regex %r: %s" % (pattern, exc)) from None
    known = _nodes() if nodes is None else nodes
    if not wanted and not compiled:
        local = _local_names()
        return [node for node in known if _machine(node) & set(local)]
    chosen: Dict[int, Dict[str, Any]] = {}
    for item in wanted:
        matched = _named(known, item)
        if not matched:
            raise SmedgeComponentError("no engine %s" % (item,), 404)
        chosen.update((node["id"], node) for node in matched)
    for pattern in compiled:
        for node in known:
            names = (str(node.get("name", "")), str(node.get("host_name", "")))
            if any(pattern.fullmatch(name) for name in names):
                chosen[node["id"]] = node
    return [chosen[key] for key in sorted(chosen)]


def _named(nodes: List[Dict[str, Any]], item: NameOrID) -> List[Dict[str, Any]]:
    if isinstance(item, uuid.UUID):
        return [node for node in nodes if node.get("uuid") == str(item)]
    text = item.strip()
    try:
        as_id = str(uuid.UUID(text))
    except ValueError:
        as_id = None
    if as_id is not None:
        return [node for node in nodes if node.get("uuid") == as_id]
    exact = [node for node in nodes if str(node.get("name", "")).lower() == text.lower()]
    if exact:
        return exact
    return [node for node in nodes if str(node.get("host_name", "")).lower() == text.lower()]


def engine(node: Dict[str, Any], pools: Optional[Dict[str, str]] = None) -> EngineType:
    """A node view as Smedge's engine settings: text values by Smedge's names."""
    pool_ids = pools or {}
    settings = {
        "ID": node["uuid"],
        "Name": node["name"],
        "Host": node.get("host_name", ""),
        "Instance": str(node.get("instance", 0)),
        "Enabled": "0" if node.get("paused") else "1",
        "Status": _status(node),
        "Online": "1" if node.get("online") else "0",
        "Pools": ",".join(pool_ids.get(name, name) for name in node.get("pools", [])),
        "PoolNames": ",".join(node.get("pools", [])),
        "CPUs": str(node.get("cpus") or 0),
        "Platform": node.get("platform", ""),
        "Note": node.get("notes", ""),
        "Address": node.get("address", ""),
        "LastSeen": node.get("last_seen") or "",
        "RunningWork": str(len(node.get("running") or [])),
        "CorralID": str(node["id"]),
    }
    settings.update(node.get("engine_settings") or {})
    return settings


def get_engines(
    engines: Optional[NameOrIDList] = None, regex: Optional[RegexList] = None
) -> List[EngineType]:
    """The engines named, or matching the patterns (none: this machine's), as dicts."""
    chosen = select(engines, regex)
    pools = {view["name"]: view["uuid"] for view in call("GET", "/pools/") if view.get("uuid")}
    return [engine(node, pools) for node in chosen]


def _each(chosen: List[Dict[str, Any]], method: str, path: str, body: Any = None) -> None:
    if not chosen:
        raise SmedgeComponentError(
            "no engine matched (with no names or patterns, the engines of this machine: %s)"
            % ", ".join(_local_names()),
            404,
        )
    for node in chosen:
        call(method, path % node["id"], body)


def enable_engines(
    engines: Optional[NameOrIDList] = None, regex: Optional[RegexList] = None
) -> None:
    """Let engines take work again (resume the nodes)."""
    _each(select(engines, regex), "POST", "/nodes/%d/actions/resume")


def disable_engines(
    engines: Optional[NameOrIDList] = None,
    regex: Optional[RegexList] = None,
    stop_work: bool = False,
) -> None:
    """Stop engines taking work (pause the nodes); ``stop_work`` also kills what they run,
    which goes back to the queue."""
    action = "kill-pause" if stop_work else "pause"
    _each(select(engines, regex), "POST", "/nodes/%d/actions/" + action)


def set_engines(
    settings: EngineType,
    engines: Optional[NameOrIDList] = None,
    regex: Optional[RegexList] = None,
) -> None:
    """Set engine settings and event commands from a dict of names and values."""
    if not isinstance(settings, dict):
        raise TypeError("settings: a dict of setting names and values")
    values = {}
    for name, value in settings.items():
        if isinstance(value, dict):
            raise SmedgeComponentError(
                "%s: per-product engine settings are not supported by Corral (set the "
                "template's client configuration instead)" % name,
                422,
            )
        values[str(name)] = value
    _each(select(engines, regex), "PATCH", "/nodes/%d/engine-settings", {"settings": values})


def reset_engine_failures(
    engines: Optional[NameOrIDList] = None, regex: Optional[RegexList] = None
) -> None:
    """Forget the engines' failure counts and the job exclusions they earned."""
    _each(select(engines, regex), "POST", "/nodes/%d/reset-failures")


def get_engine_dispatch_log(
    engines: Optional[NameOrIDList] = None, regex: Optional[RegexList] = None
) -> Dict[uuid.UUID, str]:
    """The dispatcher's report per engine: why it takes work or not, and its events."""
    reports = {}
    for node in select(engines, regex):
        answer = call("GET", "/nodes/%d/dispatch-report" % node["id"])
        reports[uuid.UUID(answer["uuid"])] = answer["report"]
    return reports
