"""Muster's `MDispatcherAPI` module: drive the farm from dispatcher hooks and scripts.

It imports anywhere; its functions work in the dispatcher context (template
hooks the dispatcher calls, `corral run-script --target dispatcher`) and
return a kErrWrongContext MUSTERERR elsewhere. See docs/hooks.md.
"""

from __future__ import annotations

from hooks.api.dispatcher_accounts import *  # noqa: F403
from hooks.api.dispatcher_api import AREAS as AREAS
from hooks.api.dispatcher_api import EXTENSIONS as EXTENSIONS
from hooks.api.dispatcher_api import FUNCTION_NAMES as FUNCTION_NAMES
from hooks.api.dispatcher_jobs import *  # noqa: F403
from hooks.api.dispatcher_nodes import *  # noqa: F403
from hooks.api.dispatcher_system import *  # noqa: F403
from hooks.api.dispatcher_template_config import *  # noqa: F403
from hooks.api.errors import *  # noqa: F403
from hooks.api.farm_objects import *  # noqa: F403
from hooks.api.objects import MChunk as MChunk
from hooks.api.objects import MJob as MJob
from hooks.api.objects import MStringRef as MStringRef
