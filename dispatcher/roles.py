"""What a dispatcher is under hot standby: the leader (with its epoch) or a standby,
and what it knows of the leader (pure data; dispatcher/leadership.py fills it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    """The `corral_leader` row: the current epoch (0: no leader yet), the leader's
    advertised HTTP URL and render address (HOST:PORT), when it took the lead (epoch s)."""

    epoch: int = 0
    http_url: str = ""
    render_address: str = ""
    taken_at: float = 0.0


@dataclass(slots=True)
class Role:
    """A dispatcher's part in a farm of several on one database. `epoch` is the leader
    epoch its store fences batches with (0 for a standby, which commits nothing);
    `leader` is the leader row as last read (a standby reads it every `poll_s`)."""

    name: Literal["leader", "standby"]
    epoch: int = 0
    leader: LeaderInfo = field(default_factory=LeaderInfo)

    def view(self) -> dict[str, Any]:
        """The status route's fields: role, epoch, leader_url, leader_render."""
        return {
            "role": self.name,
            "epoch": self.epoch if self.name == "leader" else self.leader.epoch,
            "leader_url": self.leader.http_url or None,
            "leader_render": self.leader.render_address or None,
        }
