"""Muster's `MConsoleAPI` module (console context).

A placeholder so that scripts choosing their API module by
`muster.runningContext()` import cleanly in a console; the console functions
arrive with Corral's console API. Console scripts run with
`corral run-script FILE --target console`.
"""

from __future__ import annotations

__all__: list[str] = []
