"""Muster's `MTemplateAPI` module: what template files import.

A thin name for `hooks.api.template` (which also re-exports `MStringRef`);
see that module for the classes.
"""

from __future__ import annotations

from hooks.api.template import *  # noqa: F403
from hooks.api.template import __all__ as __all__
