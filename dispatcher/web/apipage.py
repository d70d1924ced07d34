"""The API document as one self-contained HTML page (GET /api/docs).

Rendered here from the OpenAPI document, with its own small stylesheet and no
script at all: dispatchers often run where nothing outside the farm can be
reached, so the page must not load anything from elsewhere.
"""

from __future__ import annotations

import html
import json
from typing import Any

METHOD_ORDER = ["get", "post", "put", "patch", "delete"]

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 64rem; padding: 1rem 2rem;
       color: #1d232b; }
h1 { margin-bottom: 0; } h2 { border-bottom: 2px solid #d0d7de; margin-top: 2.5rem; }
nav a { margin-right: 1rem; }
section.op { border: 1px solid #d0d7de; border-radius: 6px; margin: 1rem 0; padding: 0 1rem 0.5rem; }
.method { display: inline-block; min-width: 4.5rem; font-weight: 700; font-family: monospace; }
.get { color: #0a6e31; } .post { color: #0550ae; } .put, .patch { color: #8a4600; }
.delete { color: #b42318; }
code, .path { font-family: ui-monospace, monospace; }
table { border-collapse: collapse; margin: 0.5rem 0; width: 100%; }
th, td { border-bottom: 1px solid #e5e9ee; padding: 0.2rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #f4f6f8; }
.muted { color: #57606a; } .tag { font-size: 0.85rem; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def type_text(schema: dict[str, Any], components: dict[str, Any]) -> str:
    """A schema as a short phrase of HTML: `integer`, `list of <a>JobSpec</a>`, ..."""
    if not schema:
        return "any JSON"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[1]
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(type_text(option, components) for option in schema[key])
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{_e(json.dumps(v))}</code>" for v in schema["enum"])
    if "const" in schema:
        return f"<code>{_e(json.dumps(schema['const']))}</code>"
    kind = schema.get("type", "any JSON")
    if kind == "array":
        return "list of " + type_text(schema.get("items", {}), components)
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return "map to " + type_text(schema["additionalProperties"], components)
    text = _e(kind)
    if "format" in schema:
        text += f" ({_e(schema['format'])})"
    return text


def _limits(schema: dict[str, Any]) -> str:
    words = {"minimum": "≥", "maximum": "≤", "exclusiveMinimum": ">", "exclusiveMaximum": "<",
             "minLength": "length ≥", "maxLength": "length ≤", "maxItems": "items ≤"}  # fmt: skip
    return ", ".join(f"{sign} {_e(schema[key])}" for key, sign in words.items() if key in schema)


def fields_table(schema: dict[str, Any], components: dict[str, Any]) -> str:
    """The properties of an object schema as a table (name, type, required, default, about)."""
    properties = schema.get("properties") or {}
    if not properties:
        return ""
    required = set(schema.get("required", []))
    rows = []
    for name, prop in properties.items():
        default = f"<code>{_e(json.dumps(prop['default']))}</code>" if "default" in prop else ""
        about = " ".join(part for part in (_e(prop.get("description", "")), _limits(prop)) if part)
        rows.append(
            f"<tr><td><code>{_e(name)}</code></td><td>{type_text(prop, components)}</td>"
            f"<td>{'yes' if name in required else ''}</td><td>{default}</td><td>{about}</td></tr>"
        )
    head = "<tr><th>field</th><th>type</th><th>required</th><th>default</th><th>about</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _parameters(params: list[dict[str, Any]], components: dict[str, Any]) -> str:
    if not params:
        return ""
    rows = "".join(
        f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
        f"<td>{type_text(p.get('schema', {}), components)}</td>"
        f"<td>{'yes' if p.get('required') else ''}</td><td>{_e(p.get('description', ''))}</td></tr>"
        for p in params
    )
    head = "<tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th>about</th></tr>"
    return f"<h4>Parameters</h4><table>{head}{rows}</table>"


def _body(operation: dict[str, Any], components: dict[str, Any]) -> str:
    body = operation.get("requestBody")
    if not body:
        return ""
    kind, content = next(iter(body["content"].items()))
    schema = content.get("schema", {})
    text = f"<h4>Body</h4><p><code>{_e(kind)}</code>: {type_text(schema, components)}"
    text += "" if body.get("required") else " (optional)"
    text += "</p>"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        text += fields_table(components.get(ref.rsplit("/", 1)[1], {}), components)
    return text


def _answers(operation: dict[str, Any], components: dict[str, Any]) -> str:
    items = []
    for status, answer in operation.get("responses", {}).items():
        if "$ref" in answer:
            continue
        content = answer.get("content") or {}
        what = ""
        for kind, entry in content.items():
            what = f": <code>{_e(kind)}</code> {type_text(entry.get('schema', {}), components)}"
        items.append(f"<li><b>{_e(status)}</b> {_e(answer.get('description', ''))}{what}</li>")
    errors = [
        status for status, answer in operation.get("responses", {}).items() if "$ref" in answer
    ]
    if errors:
        items.append(f"<li>problem+json on {_e(', '.join(errors))}</li>")
    return f"<h4>Answers</h4><ul>{''.join(items)}</ul>"


def _operation(
    path: str, method: str, operation: dict[str, Any], components: dict[str, Any]
) -> str:
    anchor = _e(operation.get("operationId", f"{method}-{path}"))
    permission = operation.get("x-permission")
    if not operation.get("security"):
        access = "public: no token"
    elif permission:
        access = f"needs the <code>{_e(permission)}</code> permission"
    else:
        access = "any user with a token"
    description = operation.get("description", "")
    paragraphs = "".join(f"<p>{_e(part)}</p>" for part in description.split("\n\n") if part)
    return (
        f'<section class="op" id="{anchor}"><h3><span class="method {_e(method)}">'
        f'{_e(method.upper())}</span> <span class="path">{_e(path)}</span></h3>'
        f'<p>{_e(operation.get("summary", ""))} <span class="muted">({access})</span></p>'
        f"{paragraphs}{_parameters(operation.get('parameters', []), components)}"
        f"{_body(operation, components)}{_answers(operation, components)}</section>"
    )


def render_page(document: dict[str, Any]) -> str:
    """The whole page: tags with their routes, then every schema with its fields."""
    components = document.get("components", {}).get("schemas", {})
    by_tag: dict[str, list[str]] = {}
    for path, item in document.get("paths", {}).items():
        for method in sorted(item, key=lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else 9):
            operation = item[method]
            for tag in operation.get("tags", ["other"]):
                by_tag.setdefault(tag, []).append(_operation(path, method, operation, components))
    info = document.get("info", {})
    nav = "".join(f'<a href="#tag-{_e(tag)}">{_e(tag)}</a>' for tag in sorted(by_tag))
    sections = "".join(
        f'<h2 id="tag-{_e(tag)}">{_e(tag)}</h2>{"".join(ops)}'
        for tag, ops in sorted(by_tag.items())
    )
    schemas = "".join(
        f'<section class="op" id="schema-{_e(name)}"><h3>{_e(name)}</h3>'
        f"<p>{_e(schema.get('description', ''))}</p>"
        f"{fields_table(schema, components) or '<p>' + type_text(schema, components) + '</p>'}"
        "</section>"
        for name, schema in sorted(components.items())
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(info.get('title', 'API'))}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(info.get('title', 'API'))}</h1>"
        f'<p class="muted">version {_e(info.get("version", ""))} · OpenAPI '
        f"{_e(document.get('openapi', ''))} · the same as JSON: "
        '<a href="/api/v1/openapi.json"><code>/api/v1/openapi.json</code></a></p>'
        f"<p>{_e(info.get('description', ''))}</p><nav>{nav}"
        '<a href="#schemas">schemas</a></nav>'
        f'{sections}<h2 id="schemas">Schemas</h2>{schemas}</body></html>'
    )
