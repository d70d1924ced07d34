"""A template's submission items as a job's fields, and the template's job defaults.

A template declares its submission form with `addSubmissionItem` (KATFILENAME,
KATSTARTFRAME, ...) and maps items to Muster's job attributes with
`addMapping("KATSTARTFRAME", "start_frame")`. A job names its fields by the item
names, in its `data` (Muster's attributes); at submit each item's value is
taken, checked against the item (type, required, bounds, file filter), given its
default when the job has none, and stored where the mapping says:

- `start_frame`, `end_frame`, `by_frame` become the job's frame range (so its
  chunks come from them);
- any other attribute (job_file, output_folder, render_node, job_notes, ...)
  becomes `data[attribute]`, which templates read with `attributeGetString`;
- an item without a mapping stays `data[item]`.

A job may give a mapped value under the attribute's name instead (`job_file`,
or `frames` for the frame items), as Muster's REST clients do; giving both
with different values is refused. The template's defaults (priority, pools,
excluded pools, maximum nodes) fill the fields the job does not give.

Only the catalog's description of the template is read here (hooks/catalog.py):
template code never runs in the dispatcher's process.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dispatcher import limits
from dispatcher.errors import ValidationError
from dispatcher.model import MAX_CHUNKS_PER_JOB, frame
from hooks.api.items import filter_accepts, filter_patterns
from hooks.api.preferences import coerce

if TYPE_CHECKING:
    from dispatcher.jobspec import JobSpec
    from hooks.catalog import TemplateInfo

# Muster's frame attributes and the job fields that hold them.
FRAME_FIELDS = {"start_frame": "start", "end_frame": "end", "by_frame": "by"}
# What a job gives that sets each frame field (`frames` sets start and end).
_FRAME_GIVEN = {"start": ("frames", "start", "end"), "end": ("frames", "start", "end"),
                "by": ("by",)}  # fmt: skip
TEXT_KINDS = frozenset({"string", "folder", "file", "combo"})
NUMBER_KINDS = frozenset({"integer", "double"})


def apply(spec: JobSpec, template: TemplateInfo, given: frozenset[str]) -> None:
    """Fill and check `spec` from the template's items and defaults, in place.

    `given` are the fields the submitter sent (PyFarm's `jobqueue` counts as
    pools); a ValidationError names the field (`data.KATFILENAME`) it refuses.
    """
    _defaults(spec, template, given)
    items = {item["name"]: item for item in template.getSubmissionItems() if item.get("name")}
    mappings = template.getMappings()
    for name in [*items, *(name for name in mappings if name not in items)]:
        item = items.get(name, {"name": name, "type": None})
        _apply_item(spec, item, mappings.get(name, name), given)
    _check_frames(spec)


def _defaults(spec: JobSpec, template: TemplateInfo, given: frozenset[str]) -> None:
    if "priority" not in given:
        spec.priority = min(max(template.getDefaultPriority(), 0), 65535)
    if not given & {"pools", "jobqueue"}:
        spec.pools = _names(template.getDefaultPools())
    if "excluded_pools" not in given:
        spec.excluded_pools = _names(template.getDefaultExcludedPools())
    if "max_nodes" not in given and template.getDefaultMaximumNodes() > 0:
        spec.max_nodes = template.getDefaultMaximumNodes()


def _names(text: str) -> list[str]:
    """A template's pool list ("a, b" or "a;b") as names."""
    return [name.strip() for name in text.replace(";", ",").split(",") if name.strip()]


def _apply_item(
    spec: JobSpec, item: Mapping[str, Any], attribute: str, given: frozenset[str]
) -> None:
    name = str(item["name"])
    frame_field = FRAME_FIELDS.get(attribute)
    sources: list[tuple[str, Any]] = []  # (the field it came from, the value)
    if name in spec.data:
        sources.append((f"data.{name}", spec.data[name]))
    if attribute != name and attribute in spec.data:
        sources.append((f"data.{attribute}", spec.data[attribute]))
    if frame_field is not None and given & set(_FRAME_GIVEN[frame_field]):
        sources.append((_frame_source(frame_field, given), _plain(getattr(spec, frame_field))))
    values = [(field, _checked(item, field, value)) for field, value in sources]
    if values:
        field, value = values[0]
        for other, other_value in values[1:]:
            if not _same(value, other_value):
                raise ValidationError(
                    f"{field}: {_shown(value)} differs from {other} {_shown(other_value)}; "
                    "give one of them",
                    field=field,
                )
    elif item.get("type") is None:
        return  # a mapping without an item, and nothing to map
    else:
        field, value = f"data.{name}", _default(item)
    _check_required(item, field, value)
    if frame_field is not None:
        try:
            setattr(spec, frame_field, frame(value))
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{field}: {exc}", field=field) from None
        for key in (name, attribute):
            spec.data.pop(key, None)
        return
    spec.data[attribute] = value
    if attribute != name:
        spec.data.pop(name, None)


def _frame_source(frame_field: str, given: frozenset[str]) -> str:
    if frame_field != "by" and "frames" in given:
        return "frames"
    return frame_field


def _plain(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _default(item: Mapping[str, Any]) -> Any:
    default = item.get("default")
    if default is None:
        return "" if item.get("type") in TEXT_KINDS else default
    return default


def _checked(item: Mapping[str, Any], field: str, value: Any) -> Any:
    """The value as the item's type wants it, within its bounds and filter."""
    kind = item.get("type")
    if kind is None:  # a mapping without an item: taken as given
        return value
    label = f" ({item['label']})" if item.get("label") else ""
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)  # Muster's clients send frames as floats (attributeSetFloat)
    try:
        value = coerce(item, value)
    except ValueError as exc:
        raise ValidationError(f"{field}: {exc}{label}", field=field) from None
    if kind in NUMBER_KINDS:
        low, high = item.get("minimum"), item.get("maximum")
        if low is not None and value < low:
            raise ValidationError(f"{field}: {value} is below the minimum {low}{label}", field)
        if high is not None and value > high:
            raise ValidationError(f"{field}: {value} is above the maximum {high}{label}", field)
    if (
        kind == "file"
        and value.strip()
        and not filter_accepts(str(item.get("filter") or ""), value)
    ):
        patterns = ", ".join(filter_patterns(str(item.get("filter") or "")))
        raise ValidationError(
            f"{field}: {value!r} does not match the file filter {patterns}{label}", field
        )
    return value


def _check_required(item: Mapping[str, Any], field: str, value: Any) -> None:
    if not item.get("required"):
        return
    if value is None or (isinstance(value, str) and not value.strip()):
        label = f" ({item['label']})" if item.get("label") else ""
        raise ValidationError(f"{field}: required{label}; give a value", field=field)


def _same(one: Any, other: Any) -> bool:
    if isinstance(one, int | float | Decimal) and isinstance(other, int | float | Decimal):
        return Decimal(str(one)) == Decimal(str(other))
    if isinstance(one, int | float | Decimal) or isinstance(other, int | float | Decimal):
        try:
            return Decimal(str(one)) == Decimal(str(other))
        except ArithmeticError:
            return False
    return bool(one == other)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_frames(spec: JobSpec) -> None:
    assert spec.start is not None and spec.end is not None
    if spec.by <= 0:
        raise ValidationError("by: must be positive", field="by")
    if spec.end < spec.start:
        raise ValidationError("end: the end frame is before the start frame", field="end")
    limits.check_chunks([spec.chunk_count()], limits.ChunkLimits(per_job=MAX_CHUNKS_PER_JOB), 0)
