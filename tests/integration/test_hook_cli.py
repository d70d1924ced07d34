"""`corral templates list|reload` and `corral run-script` as a user types them."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from pathlib import Path

from tests.integration.farm import CORRAL, ApiError, Farm
from tests.integration.hookfarm import start_farm, write_template


def corral(farm: Farm, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CORRAL, "--dispatcher", farm.url, "--token", token or farm.token, *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_templates_reload_and_scripts_from_the_cli(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    farm = start_farm(tmp_path / "farm", "--templates-dir", str(templates))
    try:
        listed = corral(farm, "templates", "list")
        assert (
            listed.returncode == 0 and "cmdline" in listed.stdout and "greeter" not in listed.stdout
        )
        write_template(
            templates,
            "greeter.py",
            """
            import MTemplateAPI
            class Greeter(MTemplateAPI.MTemplate):
                def __init__(self):
                    MTemplateAPI.MTemplate.__init__(self)
                    self.setID(321)
                    self.setKey("greeter")
                def onValidateJobSubmission(self, job):
                    return MTemplateAPI.MTemplateError(7, "greeter says no")
            MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Greeter())
        """,
        )
        reloaded = corral(farm, "templates", "reload")
        assert reloaded.returncode == 0, reloaded.stderr
        assert "greeter" in reloaded.stdout and "onValidateJobSubmission" in reloaded.stdout
        refused = corral(farm, "submit", "--name", "x", "--template", "greeter", "--", "true")
        assert refused.returncode == 1 and "greeter says no" in refused.stderr

        script = tmp_path / "report.py"
        script.write_text(
            "import muster, MDispatcherAPI\n"
            "print('context', muster.runningContext())\n"
            "err, jobs = MDispatcherAPI.jobGetList()\n"
            "print('jobs', len(jobs))\n"
            "MDispatcherAPI.jobGet(4242)\n"
        )
        ran = corral(farm, "run-script", str(script))
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.split("\n")[:2] == ["context dispatcher", "jobs 0"]
        assert "MUSTERERR jobGet: error 3 (kErrNotFound): no job with id 4242" in ran.stderr
        as_json = json.loads(corral(farm, "run-script", str(script), "--json").stdout)
        assert as_json["ok"] and as_json["api_errors"]

        broken = tmp_path / "broken.py"
        broken.write_text("print('before')\nraise ValueError('script bug')\n")
        failed = corral(farm, "run-script", str(broken))
        assert failed.returncode == 1 and failed.stdout == "before\n"
        assert "ValueError: script bug" in failed.stderr
        syntax = tmp_path / "syntax.py"
        syntax.write_text("def (:\n")
        bad = corral(farm, "run-script", str(syntax))
        assert bad.returncode == 1 and "line 1" in bad.stderr
        missing = corral(farm, "run-script", str(tmp_path / "nope.py"))
        assert missing.returncode == 2

        local = corral(farm, "run-script", str(script), "--target", "console")
        assert local.returncode == 0 and local.stdout.split("\n")[:2] == [
            "context console",
            "jobs 0",
        ]

        # A user without the administer permission may do neither.
        token = "bob-" + "x" * 40
        farm.stop()
        with sqlite3.connect(farm.data_dir / "corral.db") as db:
            info = {
                "permissions": ["submit", "manage_own"],
                "token_digests": [hashlib.sha256(token.encode()).hexdigest()],
            }
            db.execute("INSERT INTO users (name, info) VALUES ('bob', ?)", (json.dumps(info),))
        farm.start()
        for path in ("/api/v1/scripts/run", "/api/v1/templates/reload"):
            try:
                farm.request("POST", path, {"code": "print(1)"}, token=token)
            except ApiError as exc:
                assert exc.status == 403 and "administer" in exc.body["detail"]
            else:
                raise AssertionError(f"{path} accepted a user without the administer permission")
        denied = corral(farm, "run-script", str(script), token=token)
        assert denied.returncode == 4 and "administer" in denied.stderr
        assert corral(farm, "templates", "list", token=token).returncode == 0
    finally:
        farm.close()
