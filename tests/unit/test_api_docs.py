"""docs/api.md documents every declared REST route: `METHOD /path` written out, with
any spelling of a path parameter (`{job}`, `<id or title>`, `12`)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from dispatcher.web.app import make_app
from dispatcher.web.endpoint import declared_endpoints

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
PARAMETER = r"(?:\{[^}]*\}|<[^>]*>|[^\s`/?{}<>]+)"


def documented(method: str, path: str, text: str) -> bool:
    parts = re.split(r"\{[^}]*\}", path)
    pattern = PARAMETER.join(re.escape(part) for part in parts)
    return re.search(rf"{method}\s+(?:\S*?){pattern}(?=[\s`?)|[]|$)", text, re.M) is not None


def test_every_route_is_documented_in_api_md() -> None:
    app = make_app(SimpleNamespace(), max_request_bytes=1024)  # type: ignore[arg-type]
    text = DOC.read_text()
    missing = [
        f"{endpoint.method} {endpoint.path}"
        for endpoint in declared_endpoints(app)
        if not documented(endpoint.method, endpoint.path, text)
    ]
    assert not missing, "docs/api.md does not show these routes:\n" + "\n".join(missing)


def test_the_check_can_fail() -> None:
    assert documented("GET", "/api/v1/jobs/{job}", "`GET /api/v1/jobs/<id or title>`")
    assert documented("DELETE", "/api/v1/tokens/{id}", "curl -X DELETE $CORRAL/api/v1/tokens/7")
    assert not documented("GET", "/api/v1/jobs/{job}", "`POST /api/v1/jobs/12`")
    assert not documented("GET", "/api/v1/jobs/", "`GET /api/v1/jobs/12`")
