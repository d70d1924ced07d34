"""Licenses and delays: template caps the scheduler enforces with cheap counters.

A template's maximum licenses (`setMaximumLicenses`, 0 = no cap) bounds how many
chunks run at once farm-wide in its licenses group (`setLicensesGroup`; an
empty group is the template's own). Templates that name the same group share
its count: a chunk of template T may start while fewer than T's maximum
chunks of the whole group run. A delay group (`setDelayGroup`; empty = the
template's own) with a delay (`setDelay`, seconds) spaces chunk starts: a
chunk of T starts only `delay` seconds or more after the group's last start,
whichever template of the group made it. The values come from the templates
the catalog loaded; start times are kept in memory (a restart forgets them).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """One template's license and delay settings, groups resolved."""

    licenses_group: str
    max_licenses: int
    delay_group: str
    delay_s: float


@dataclass(frozen=True, slots=True)
class Wait:
    """Why a template's chunk may not start now; `retry_s` > 0 when time alone frees it."""

    reason: str
    retry_s: float = 0.0


def limits_of(info: Mapping[str, Any]) -> TemplateLimits:
    """A template's limits from its catalog summary (MTemplate.to_dict)."""
    key = str(info.get("key", ""))
    return TemplateLimits(
        licenses_group=str(info.get("licenses_group") or "") or key,
        max_licenses=max(0, _int(info.get("maximum_licenses"))),
        delay_group=str(info.get("delay_group") or "") or key,
        delay_s=max(0.0, float(_int(info.get("delay_s")))),
    )


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return 0


class Licenses:
    """License use and last starts per group, over the queue's running counts.

    `running` is the queue's running attempts per template key (kept by the
    queue); `templates` gives the current catalog's templates (summaries or
    items with an `info` summary), read again whenever it returns a different
    object (a template reload).
    """

    def __init__(
        self,
        running: Counter[str],
        templates: Callable[[], Iterable[Any]] = lambda: (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.running = running
        self.templates = templates
        self.clock = clock
        self.last_start: dict[str, float] = {}
        self._source: object = None
        self._limits: dict[str, TemplateLimits] = {}
        self._license_members: dict[str, list[str]] = {}

    def limits_for(self, template: str) -> TemplateLimits | None:
        """The template's limits, None when it has neither a cap nor a delay group."""
        return self.limited().get(template)

    def limited(self) -> Mapping[str, TemplateLimits]:
        """The limits of every template that has a cap or a delay group, by key (the
        catalog's current templates: a dispatch slice reads them once, not per pick)."""
        source = self.templates()
        if source is not self._source:
            self._reload(source)
        return self._limits

    def _reload(self, source: Iterable[Any]) -> None:
        self._source = source
        self._limits = {}
        self._license_members = {}
        for item in source:  # summaries, or the catalog's TemplateInfo items
            info: Mapping[str, Any] = getattr(item, "info", item)
            limits = limits_of(info)
            key = str(info.get("key", ""))
            shared = bool(info.get("licenses_group")) or limits.max_licenses > 0
            spaced = bool(info.get("delay_group")) or limits.delay_s > 0
            if shared or spaced:
                self._limits[key] = limits
            if shared:
                self._license_members.setdefault(limits.licenses_group, []).append(key)

    def in_use(self, group: str) -> int:
        """Chunks of the group's templates running now."""
        return sum(self.running.get(key, 0) for key in self._license_members.get(group, ()))

    def wait(self, template: str) -> Wait | None:
        """Why a chunk of `template` may not start now, or None."""
        limits = self.limits_for(template)
        if limits is None:
            return None
        if limits.max_licenses:
            used = self.in_use(limits.licenses_group)
            if used >= limits.max_licenses:
                return Wait(
                    f"its template's licenses are all in use ({used} of "
                    f"{limits.max_licenses} in licenses group {limits.licenses_group!r})"
                )
        if limits.delay_s:
            last = self.last_start.get(limits.delay_group)
            if last is not None:
                left = last + limits.delay_s - self.clock()
                if left > 0:
                    return Wait(
                        f"delay group {limits.delay_group!r} spaces chunk starts by "
                        f"{limits.delay_s:g} s; the next may start in {left:.1f} s",
                        retry_s=left,
                    )
        return None

    def started(self, template: str) -> None:
        """A chunk of `template` started: its delay group's clock restarts."""
        limits = self.limits_for(template)
        if limits is not None:
            self.last_start[limits.delay_group] = self.clock()
