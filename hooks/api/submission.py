"""What of an MJob a submission takes: the one translation jobSubmit uses in every context
(the dispatcher's API service and MConsoleAPI over REST)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dispatcher.jobspec import JobSpec
from hooks.api.objects import MJob

# An MJob has start and end, not a frame range; a copy of a queued job's MJob is a new
# job, so its UUID is not taken.
SPEC_FIELDS = frozenset(JobSpec.model_fields) - {"frames", "uuid"}
# An MJob carries every field; those a template gives a default for or a submission
# item may set count as not given while they hold a new MJob's value, so that the
# template's defaults and items apply (dispatcher/submission_items.py).
_UNSET = MJob().to_dict()
TEMPLATE_FILLED = ("priority", "pools", "excluded_pools", "max_nodes", "by")
FRAME_RANGE = ("start", "end")  # untouched only together: start 1 with end 6 is a range


def submission_item(data: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """The job spec (a JSON object) an MJob's wire form submits, owned by `owner`."""
    untouched = {key for key in TEMPLATE_FILLED if data.get(key) == _UNSET[key]}
    if all(data.get(key) == _UNSET[key] for key in FRAME_RANGE):
        untouched.update(FRAME_RANGE)
    item = {key: value for key, value in data.items() if key in SPEC_FIELDS - untouched}
    return {**item, "user": owner.strip()}
