"""Muster's `MClientAPI` module: for now its platform functions and constants.

Template callbacks in the render client use them to pick per-platform paths::

    if MClientAPI.GetPlatform() == MClientAPI.kPlatformLinux:
        ...

They work in every context (they describe the machine the code runs on); the
session and job functions arrive with Corral's client facade.
"""

from __future__ import annotations

from hooks.api.template import current_platform, kPlatformLinux, kPlatformMac, kPlatformWindows

__all__ = ["GetPlatform", "kPlatformLinux", "kPlatformMac", "kPlatformWindows"]


def GetPlatform() -> int:
    """The platform this code runs on: kPlatformWindows, kPlatformMac or kPlatformLinux."""
    return current_platform()
