"""The dispatchers a render node may work for: one farm's leader and its standbys.

A node is given one address or several (`corral renderclient --dispatcher
farm1:9681,farm2:9681`). Its sessions connect to the current one; when that
cannot be reached, or refuses the handshake, they move on to the next, round
after round, forever. A standby refuses a render client naming the leader's
render address (`leader=HOST:PORT`), and the session goes there next; a
standby that knows no leader yet (a takeover under way) is passed like an
address that cannot be reached (docs/scaling.md). Work in
flight needs nothing more: every handshake reports the running attempts and
the unacknowledged results, which the new dispatcher settles by attempt number
as after a restart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

logger = logging.getLogger(__name__)

Address = tuple[str, int]

# A standby's refusal names the leader as `leader=HOST:PORT` (or `[V6]:PORT`).
_LEADER_IN_REASON = re.compile(r"\bleader[= ]((?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5})\b")


def format_address(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str, default_port: int) -> Address:
    """'farm:9681' -> ('farm', 9681); 'farm' -> ('farm', default); '[::1]:9681' -> ('::1', 9681).

    Raises ValueError naming what is wrong.
    """
    cleaned = text.strip()
    host, port_text = cleaned, ""
    if cleaned.startswith("["):
        inside, _, rest = cleaned[1:].partition("]")
        host, port_text = inside, rest.removeprefix(":")
    elif cleaned.count(":") == 1:
        host, _, port_text = cleaned.partition(":")
    if not host:
        raise ValueError(f"{text!r} has no host")
    if not port_text:
        return host, default_port
    if not port_text.isdecimal() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r} has no valid port")
    return host, int(port_text)


def parse_addresses(text: str, default_port: int) -> list[Address]:
    """'farm1:9681,farm2' -> both addresses in order (no repeats); ValueError if none."""
    addresses: list[Address] = []
    for part in text.split(","):
        if part.strip():
            address = parse_address(part, default_port)
            if address not in addresses:
                addresses.append(address)
    if not addresses:
        raise ValueError(f"no dispatcher address in {text!r}")
    return addresses


def leader_named(refusal: object, reason: str) -> Address | None:
    """The leader's render address a standby's refusal names, if it names one.

    A `leader` field ("HOST:PORT") wins; else `leader=HOST:PORT` in the reason.
    """
    named = getattr(refusal, "leader", None)
    if not isinstance(named, str) or not named.strip():
        match = _LEADER_IN_REASON.search(reason)
        named = match.group(1) if match else ""
    if not named:
        return None
    try:
        address = parse_address(named, 0)
    except ValueError:
        return None
    return address if address[1] else None


def from_standby(reason: str) -> bool:
    """Whether a refusal comes from a standby dispatcher (which refuses every render
    client, naming the leader once one is known): never a reason for a node to stop."""
    return "standby" in reason.lower()


class DispatcherList:
    """One session's dispatcher addresses and the one it uses now.

    `label` names the session in the log lines of each switch.
    """

    def __init__(self, addresses: Sequence[Address], label: str) -> None:
        if not addresses:
            raise ValueError("no dispatcher address")
        self.addresses: list[Address] = list(addresses)
        self.label = label
        self._index = 0
        self._detour: Address | None = None  # a leader named by a standby, not in the list

    @property
    def current(self) -> Address:
        return self._detour if self._detour is not None else self.addresses[self._index]

    def __len__(self) -> int:
        return len(self.addresses)

    @property
    def detoured(self) -> bool:
        """Whether the session goes to a leader a standby named, outside the list."""
        return self._detour is not None

    def advance(self, reason: str) -> Address:
        """Move on to the next address (after the last, the first); logs the switch."""
        before = self.current
        if self._detour is not None:
            self._detour = None  # back to the list where it was left
        else:
            self._index = (self._index + 1) % len(self.addresses)
        self._log_switch(before, reason)
        return self.current

    def go_to(self, leader: Address, reason: str) -> Address:
        """Go to the leader a standby named (in the list or not)."""
        before = self.current
        if leader in self.addresses:
            self._index = self.addresses.index(leader)
            self._detour = None
        else:
            self._detour = leader
        self._log_switch(before, reason)
        return self.current

    def _log_switch(self, before: Address, reason: str) -> None:
        if before == self.current:
            return
        logger.warning(
            "action=dispatcher_switch %s from=%s to=%s reason=%s",
            self.label,
            format_address(before),
            format_address(self.current),
            reason,
        )
