"""The web console: its page at `/` and its static files at `/console/{path}`.

The files live in dispatcher/web/console/ (plain JavaScript modules and CSS, no build
step) and hold no data: every data call the page makes goes to the REST API with the
session cookie of `POST /api/v1/login` (`"cookie": true`), so serving them needs no
login. A path is served only when each of its parts is a plain name (no `..`, no
hidden file, no backslash) and the file it names is inside the console's folder and
of a known type; anything else is 404. Every answer carries a Content-Security-Policy
that lets the page run its own scripts only (no inline script, nothing from
elsewhere), and an ETag so a browser revalidates cheaply. A file's body and ETag are
read and hashed once and kept until its modification time or size changes (the files
are few and small), so a request costs a stat, not a read and a hash.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from aiohttp import web

from dispatcher.errors import NotFound
from dispatcher.web.endpoint import Routes, endpoint_of

routes = Routes("console")

ROOT = (Path(__file__).parent / "console").resolve()
INDEX = "index.html"

CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain",
}
TEXT_TYPES = frozenset({"text/html", "text/javascript", "text/css", "image/svg+xml",
                        "application/json", "text/plain"})  # fmt: skip

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# The browser asks again each time (If-None-Match: a 304 costs a few bytes), so a
# dispatcher upgraded in place serves its new files at once.
CACHE_CONTROL = "no-cache"
MAX_PATH_CHARS = 256
_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def console_file(path: str) -> Path:
    """The file `path` names inside the console's folder; NotFound for anything else
    (a part that is not a plain name, a folder, a file of unknown type, a link out)."""
    parts = path.split("/")
    if (
        len(path) > MAX_PATH_CHARS
        or not all(_PART.fullmatch(part) and ".." not in part for part in parts)
        or Path(parts[-1]).suffix not in CONTENT_TYPES
    ):
        raise NotFound("no such file of the web console")
    found = ROOT.joinpath(*parts).resolve()
    if not found.is_relative_to(ROOT) or not found.is_file():
        raise NotFound("no such file of the web console")
    return found


_contents: dict[Path, tuple[int, int, bytes, str]] = {}  # path: mtime_ns, size, body, ETag


def file_content(found: Path) -> tuple[bytes, str]:
    """A file's body and its ETag, read and hashed again only when the file's
    modification time or size changed since the last call."""
    stat = found.stat()
    kept = _contents.get(found)
    if kept is not None and kept[0] == stat.st_mtime_ns and kept[1] == stat.st_size:
        return kept[2], kept[3]
    body = found.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    _contents[found] = (stat.st_mtime_ns, stat.st_size, body, etag)
    return body, etag


def _serve(request: web.Request, found: Path) -> web.Response:
    body, etag = file_content(found)
    headers = {**SECURITY_HEADERS, "Cache-Control": CACHE_CONTROL, "ETag": etag}
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    content_type = CONTENT_TYPES[found.suffix]
    charset = "utf-8" if content_type in TEXT_TYPES else None
    return web.Response(body=body, content_type=content_type, charset=charset, headers=headers)


@routes.get("/", public=True, answer=str, content_type="text/html")
async def console_page(request: web.Request) -> web.Response:
    """The web console's page (it logs in with `POST /api/v1/login`, `"cookie": true`)."""
    return _serve(request, console_file(INDEX))


@routes.get(
    "/console/{path:.+}", public=True, answer=str, content_type="text/javascript", errors=(404,)
)
async def console_static(request: web.Request) -> web.Response:
    """A static file of the web console (script, style sheet, image): no data, no login."""
    return _serve(request, console_file(request.match_info["path"]))


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
    ours = [
        route for route in app.router.routes() if endpoint_of(route.handler) in routes.endpoints
    ]
    for route in ours:  # HEAD: the same headers, no body (aiohttp leaves the body out)
        if route.resource is not None:
            route.resource.add_route("HEAD", route.handler)
