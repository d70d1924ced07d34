"""Smedge's products: Corral's templates, with their parameters.

A product is a template. Its ``type`` is a stable UUID made from the template's
key, its ``name`` the template's name; ``aliases`` hold the key and the names
Smedge users give the product ("Maya", "MayaBatch", "ffmpeg", ...). Its
parameters are the parameters every job has (Name, Range, Priority, ...)
followed by the template's submission items, named as Smedge names them where
Smedge has a name (the Maya scene is ``Scene``), else by the job attribute the
item fills.
"""

import re
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ._link import SmedgeComponentError, call

PRODUCT_NAMESPACE = uuid.UUID("5d0c3f0e-8f43-5b7e-9a55-7a1c2b3e9d41")
GENERAL_QUEUE = 0
COMMAND_TEMPLATE = "cmdline"  # its jobs' Command is the command line itself

# Template key -> the other names Smedge users know the product by (compared without case).
ALIASES = {
    "maya": ["Maya", "MayaBatch", "Maya Render", "MayaRender", "Render"],
    "nuke": ["Nuke", "NukeX", "Nuke Render"],
    "ffmpeg": ["ffmpeg", "FFmpeg Encode", "Encode"],
    "blender": ["Blender", "Blender Render", "Cycles"],
    "houdini": ["Houdini", "hython", "Mantra", "Karma"],
    "kick": ["Arnold", "kick", "Arnold Standalone"],
    "cmdline": ["Command", "Command Line", "Generic", "Shell", "Script", "Generic Script"],
    "python": ["Python", "Python Script"],
    "demo": ["Demo"],
}

# Job attribute an item fills -> the Smedge parameter name.
SMEDGE_NAMES = {
    "job_file": "Scene",
    "additional_flags": "Extra",
    "output_file": "OutputFile",
    "output_folder": "OutputFolder",
    "job_project": "Project",
    "render_layer": "Layer",
    "camera": "Camera",
    "renderer": "Renderer",
    "frame_rate": "FrameRate",
    "video_codec": "Codec",
    "pixel_format": "PixelFormat",
    "quality": "Quality",
}

ITEM_TYPES = {"string": "String", "file": "File", "folder": "Folder", "integer": "Integer",
              "double": "Float", "boolean": "Bool", "combo": "Choice"}  # fmt: skip

# (name, type, flags, default): the parameters every product has, in display order.
COMMON = [
    ("ID", "UUID", ["ReadOnly"], ""),
    ("Name", "String", [], ""),
    ("Type", "Product", ["Required"], ""),
    ("Range", "Range", ["Required"], "1"),
    ("Priority", "Integer", [], "50"),
    ("Pool", "Pool", [], ""),
    ("Note", "String", [], ""),
    ("PacketSize", "Integer", [], "1"),
    ("CPUs", "Integer", [], "1"),
    ("WaitForJobID", "UUIDList", [], ""),
    ("WaitForWholeJob", "Bool", [], "1"),
    ("ImageFormat", "StringList", [], ""),
    ("Status", "Integer", [], "0"),
    ("paused", "Bool", [], "0"),
    ("Creator", "String", ["ReadOnly"], ""),
    ("Created", "Time", ["ReadOnly"], ""),
    ("LastError", "String", ["ReadOnly"], ""),
    ("JobFinishedEvt", "Command", [], ""),
    ("JobCompletedEvt", "Command", [], ""),
    ("JobFailedEvt", "Command", [], ""),
]


@dataclass(frozen=True)
class Parameter:
    """One parameter of a product: its type, flags, settings (Name, Default, ...), choices."""

    type: str
    flags: List[str] = field(default_factory=list)
    settings: Dict[str, str] = field(default_factory=dict)
    choices: Dict[str, str] = field(default_factory=dict)
    parameters: List["Parameter"] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.settings.get("Name", "")

    @property
    def default(self) -> str:
        return self.settings.get("Default", "")

    @classmethod
    def from_dict(cls, in_dict: Mapping[str, Any]) -> "Parameter":
        """A Parameter from a JSON dict (``type``, ``flags``, ``settings``, ...)."""
        if not isinstance(in_dict, Mapping):
            raise ValueError("a parameter is a dict, not %s" % type(in_dict).__name__)
        return cls(
            type=str(in_dict.get("type", "String")),
            flags=[str(flag) for flag in in_dict.get("flags") or []],
            settings={str(k): str(v) for k, v in (in_dict.get("settings") or {}).items()},
            choices={str(k): str(v) for k, v in (in_dict.get("choices") or {}).items()},
            parameters=[cls.from_dict(item) for item in in_dict.get("parameters") or []],
        )


ParameterList = List[Parameter]


@dataclass(frozen=True)
class Product:
    """A product: a Corral template as Smedge describes a kind of work."""

    type: uuid.UUID
    smedge_class: str
    name: str
    queue: int = GENERAL_QUEUE
    aliases: List[str] = field(default_factory=list)
    parameters: List[Parameter] = field(default_factory=list)

    @property
    def required_parameters(self) -> List[Parameter]:
        """The required parameters, by name."""
        needed = [item for item in self.parameters if "Required" in item.flags]
        return sorted(needed, key=lambda item: item.name.lower())

    @property
    def key(self) -> str:
        """The Corral template's key."""
        return self.smedge_class

    def matches(self, wanted: Union[str, uuid.UUID]) -> bool:
        """Whether ``wanted`` names this product: its ID, name, key or an alias."""
        if isinstance(wanted, uuid.UUID):
            return wanted == self.type
        text = str(wanted).strip().lower()
        if text == str(self.type):
            return True
        return text in [name.lower() for name in [self.name, *self.aliases]]

    @classmethod
    def from_dict(cls, in_dict: Mapping[str, Any]) -> "Product":
        """A Product from a JSON dict: a Product's fields, or a template as the API shows it."""
        if not isinstance(in_dict, Mapping):
            raise ValueError("a product is a dict, not %s" % type(in_dict).__name__)
        if "key" in in_dict:
            return from_template(in_dict)
        return cls(
            type=uuid.UUID(str(in_dict["type"])),
            smedge_class=str(in_dict.get("smedge_class", "")),
            name=str(in_dict.get("name", "")),
            queue=int(in_dict.get("queue", GENERAL_QUEUE)),
            aliases=[str(alias) for alias in in_dict.get("aliases") or []],
            parameters=[Parameter.from_dict(item) for item in in_dict.get("parameters") or []],
        )


def product_id(template_key: str) -> uuid.UUID:
    """The stable UUID of the product of template ``template_key``."""
    return uuid.uuid5(PRODUCT_NAMESPACE, "corral-template:" + template_key)


def _parameter(name: str, kind: str, flags: Sequence[str], default: Any, **more: str) -> Parameter:
    settings = {"Name": name, "Default": "" if default is None else _text(default)}
    settings.update({key: value for key, value in more.items() if value})
    return Parameter(type=kind, flags=list(flags), settings=settings)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def from_template(template: Mapping[str, Any]) -> Product:
    """The product of a template as ``GET /api/v1/templates/`` shows it."""
    key = str(template["key"])
    parameters = [_parameter(*common) for common in COMMON]
    if key == COMMAND_TEMPLATE:
        parameters.append(_parameter("Command", "String", ["Required"], ""))
    mappings = template.get("mappings") or {}
    for item in template.get("items") or []:
        attribute = str(mappings.get(item.get("name"), item.get("name")))
        if attribute in ("start_frame", "end_frame", "by_frame"):
            continue  # the Range parameter holds the frames
        flags = ["Required"] if item.get("required") else []
        if item.get("advanced"):
            flags.append("Advanced")
        choices = {str(c): str(c) for c in item.get("choices") or item.get("values") or []}
        parameter = _parameter(
            SMEDGE_NAMES.get(attribute, attribute),
            ITEM_TYPES.get(str(item.get("type")), "String"),
            flags,
            item.get("default"),
            Label=str(item.get("label") or ""),
            Description=str(item.get("description") or ""),
            Item=str(item.get("name") or ""),
            Attribute=attribute,
        )
        if choices:
            parameter = Parameter(parameter.type, parameter.flags, parameter.settings, choices)
        parameters.append(parameter)
    aliases = [key] + [alias for alias in ALIASES.get(key, []) if alias.lower() != key]
    return Product(
        type=product_id(key),
        smedge_class=key,
        name=str(template.get("name") or key),
        queue=GENERAL_QUEUE,
        aliases=aliases,
        parameters=parameters,
    )


def all_products() -> List[Product]:
    """Every installed template as a product (one call to the dispatcher)."""
    answer = call("GET", "/templates/")
    templates = answer.get("templates") if isinstance(answer, dict) else answer
    if not isinstance(templates, list):
        raise SmedgeComponentError("the dispatcher's template list is not a list")
    return [from_template(template) for template in templates if isinstance(template, dict)]


def find_product(products: Sequence[Product], wanted: Union[str, uuid.UUID]) -> Optional[Product]:
    """The product ``wanted`` names (ID, name, key or alias, without case), or None."""
    for product in products:
        if product.matches(wanted):
            return product
    return None


def get_product_info(
    product: Optional[Union[str, uuid.UUID]] = None,
) -> Optional[Union[Product, List[Product]]]:
    """One product by name, alias or ID (None when unknown), or every product for None."""
    products = all_products()
    if product is None:
        return products
    return find_product(products, product)


def find_parameter(parameters: Sequence[Parameter], name: str) -> Optional[Parameter]:
    """The parameter called ``name``, whatever its case; None when there is none."""
    wanted = str(name).lower()
    for parameter in parameters or []:
        if parameter.name.lower() == wanted:
            return parameter
    return None


def _product_key(product: Union[str, uuid.UUID]) -> str:
    found = find_product(all_products(), product)
    if found is None:
        raise SmedgeComponentError("unknown product %r" % (str(product),))
    return found.key


def _engines(
    engines: Optional[Union[str, uuid.UUID, Sequence[Union[str, uuid.UUID]]]],
    regex: Optional[Union[str, Sequence[str]]],
) -> List[Dict[str, Any]]:
    """The render nodes named by name, id or UUID, or whose name a pattern matches; the
    local machine's when neither is given."""
    nodes = call("GET", "/nodes/")
    if not isinstance(nodes, list):
        raise SmedgeComponentError("the dispatcher's node list is not a list")
    names = [] if engines is None else engines if isinstance(engines, list) else [engines]
    patterns = [] if regex is None else regex if isinstance(regex, list) else [regex]
    try:
        compiled = [re.compile(str(pattern)) for pattern in patterns]
    except re.error as exc:
        raise SmedgeComponentError("regex: %s" % exc) from None
    if not names and not compiled:
        local = socket.gethostname().lower()
        chosen = [node for node in nodes if str(node.get("host_name", "")).lower() == local]
        if not chosen:
            raise SmedgeComponentError("no engine runs on this machine (%s)" % local)
        return chosen
    chosen, wanted = [], {str(name).strip().lower() for name in names}
    for node in nodes:
        keys = {str(node.get(k, "")).lower() for k in ("id", "name", "uuid")}
        if keys & wanted or any(p.fullmatch(str(node.get("name", ""))) for p in compiled):
            chosen.append(node)
    missing = wanted - {
        str(node.get(k, "")).lower() for node in chosen for k in ("id", "name", "uuid")
    }
    if missing:
        raise SmedgeComponentError("no engine %s" % ", ".join(sorted(missing)))
    return chosen


def enable_product(
    product: Union[str, uuid.UUID],
    engines: Optional[Union[str, uuid.UUID, List[Union[str, uuid.UUID]]]] = None,
    regex: Optional[Union[str, List[str]]] = None,
) -> None:
    """Let engines run the product's work again (lifts their exclusion of its template)."""
    _node_action("purge-exclusions", product, engines, regex)


def disable_product(
    product: Union[str, uuid.UUID],
    engines: Optional[Union[str, uuid.UUID, List[Union[str, uuid.UUID]]]] = None,
    regex: Optional[Union[str, List[str]]] = None,
) -> None:
    """Stop engines taking the product's work (they exclude its template)."""
    _node_action("exclude", product, engines, regex)


def _node_action(action: str, product: Union[str, uuid.UUID], engines: Any, regex: Any) -> None:
    """Run a node action naming the product's template on each engine chosen."""
    key = _product_key(product)
    for node in _engines(engines, regex):
        call("POST", "/nodes/%s/actions/%s" % (node["id"], action), {"template": key})
