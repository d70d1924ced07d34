"""Muster's `MClientAPI` module (the external client SDK).

A placeholder so that `import MClientAPI` works wherever Corral is installed;
the session and job functions arrive with Corral's client facade.
"""

from __future__ import annotations

__all__: list[str] = []
