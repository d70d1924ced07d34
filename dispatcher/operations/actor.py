"""Who performs an operation, and what they may do.

- a user (REST, the consoles, a script a user runs in the dispatcher context):
  their permissions decide;
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
    """`name` is what the action log and the events record."""

    name: str
    kind: str
    user: User | None = None

    @classmethod
    def of_user(cls, user: User) -> Actor:
        return cls(user.name, USER, user)

    @classmethod
    def of_script(cls, user: User) -> Actor:
        """A dispatcher-context script run by `user` (who needed administer to run it)."""
        return cls(user.name, SCRIPT, user)

    @classmethod
    def of_template(cls, key: str) -> Actor:
        return cls(f"template:{key or '?'}", TEMPLATE)

    @classmethod
    def system(cls) -> Actor:
        return cls("system", SYSTEM)

    def can(self, permission: Permission) -> bool:
        """Templates and the system hold the dispatcher's authority; users their permissions."""
        return self.user is None or self.user.can(permission)

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
