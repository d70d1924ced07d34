"""Muster's `MInstanceAPI` module (render client context).

Template callbacks that run in the render client (onBuildCommandLine,
onGetApplicationPath, onClientIdling, ...) ask about their node with it::

    err, count = MInstanceAPI.getRunningInstances()

See `hooks.api.instance` for the functions and constants.
"""

from __future__ import annotations

from hooks.api.instance import *  # noqa: F403
from hooks.api.instance import __all__ as __all__
