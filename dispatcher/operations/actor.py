"""Who performs an operation, and what they may do.

- a user (REST, the consoles, a script a user runs in the dispatcher context):
  their effective permissions decide: their own and their groups' together,
  as they stand when the request is authenticated;
- a template's hook (`template:KEY`): it acts with the dispatcher's authority,
  as Muster's templates do, and is never refused for want of a permission;
- the dispatcher itself (`system`): start-up, timers, stored settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatcher.auth import Permission, User
from dispatcher.errors import PermissionDenied
from dispatcher.model import Job

USER, SCRIPT, TEMPLATE, SYSTEM = "user", "script", "template", "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """`name` is what the action log and the events record; `permissions` a user's
    effective permissions; `token_id` the id of the token the request came with."""

    name: str
    kind: str
    user: User | None = None
    permissions: frozenset[Permission] = frozenset()
    token_id: str = ""

    @classmethod
    def of_user(cls, user: User, permissions: frozenset[Permission], token_id: str = "") -> Actor:
        return cls(user.name, USER, user, permissions, token_id)

    @classmethod
    def of_script(cls, user: User, permissions: frozenset[Permission]) -> Actor:
        """A dispatcher-context script run by `user` (who needed administer to run it)."""
        return cls(user.name, SCRIPT, user, permissions)

    @classmethod
    def of_template(cls, key: str) -> Actor:
        return cls(f"template:{key or '?'}", TEMPLATE)

    @classmethod
    def system(cls) -> Actor:
        return cls("system", SYSTEM)

    def can(self, permission: Permission) -> bool:
        """Templates and the system hold the dispatcher's authority; users their effective
        permissions (administer includes every other)."""
        held = self.permissions
        return self.user is None or Permission.ADMINISTER in held or permission in held

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied(f"user {self.name} lacks the {permission.value} permission")

    def may_manage(self, job: Job) -> None:
        """Manage-own covers the actor's own jobs; manage-all every job."""
        self.require(Permission.MANAGE_OWN)
        if self.user is not None and job.user != self.name and not self.can(Permission.MANAGE_ALL):
            raise PermissionDenied(
                f"job {job.id} belongs to {job.user}; {self.name} may manage only their own"
            )
