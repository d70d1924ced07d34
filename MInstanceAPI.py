"""Muster's `MInstanceAPI` module (render client context).

A placeholder so that scripts choosing their API module by
`muster.runningContext()` import cleanly in the render client; the instance
functions arrive with the rest of the in-process API.
"""

from __future__ import annotations

__all__: list[str] = []
