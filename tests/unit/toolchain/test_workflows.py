"""The GitHub Actions workflows: valid for actionlint (built from its Go module), every action
pinned to a commit, least privilege, secrets never on a command line, and the jobs asked for."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from commands.pr_comment import marker
from toolchain.actionlint import WORKFLOWS, check, main, workflow_files
from toolchain.gobuild import PROJECT_ROOT

pytestmark = pytest.mark.gobuild

SETUP_ACTION = PROJECT_ROOT / ".github" / "actions" / "setup" / "action.yml"
PINNED = re.compile(r"^\s*-?\s*uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def load(path: Path) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean true.
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps(document: dict[Any, Any]) -> list[dict[str, Any]]:
    if "runs" in document:
        return list(document["runs"]["steps"])
    return [step for job in document["jobs"].values() for step in job["steps"]]


def test_the_workflows_pass_actionlint() -> None:
    files = workflow_files()
    assert {f.name for f in files} == {"preview.yml", "deploy.yml", "drift.yml"}
    result = check(files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_a_broken_workflow_fails_actionlint(tmp_path: Path) -> None:
    source = (WORKFLOWS / "preview.yml").read_text()
    broken = source.replace("steps.preview.outcome", "steps.previw.outcome", 1).replace(
        "pull-requests: write", "pull-request: write"
    )
    assert broken.count("previw") == 1 and "pull-request: write" in broken
    copy = tmp_path / "preview.yml"
    copy.write_text(broken)
    result = check([copy])
    assert result.returncode == 1
    assert 'property "previw" is not defined' in result.stdout, result.stdout
    assert 'unknown permission scope "pull-request"' in result.stdout, result.stdout


def test_every_action_is_pinned_to_a_commit_with_its_version_beside_it() -> None:
    for path in [*workflow_files(), SETUP_ACTION]:
        for line in path.read_text().splitlines():
            if "uses:" in line and "uses: ./" not in line:
                assert PINNED.match(line), f"{path.name}: {line.strip()}"


def test_permissions_are_read_only_unless_a_job_says_why() -> None:
    for path in workflow_files():
        document = load(path)
        assert document["permissions"] == {"contents": "read"}, path.name
        for name, job in document["jobs"].items():
            granted = job.get("permissions", {})
            assert "write-all" not in str(granted), (path.name, name)
            writes = {scope for scope, level in granted.items() if level == "write"}
            assert writes <= {"id-token", "pull-requests", "issues"}, (path.name, name, writes)
            # Each write permission carries a comment saying what it is for.
            text = path.read_text()
            for scope in writes:
                assert re.search(rf"{scope}: write # \w", text), (path.name, scope)


def test_secrets_reach_steps_through_inputs_and_env_never_a_command_line() -> None:
    for path in [*workflow_files(), SETUP_ACTION]:
        for step in steps(load(path)):
            assert "secrets." not in step.get("run", ""), (path.name, step.get("name"))
            assert "${{" not in step.get("run", ""), (path.name, step.get("name"))


def test_each_job_runs_the_projects_make_targets() -> None:
    preview, deploy, drift = (load(WORKFLOWS / f"{n}.yml") for n in ("preview", "deploy", "drift"))
    assert preview["on"] == {"pull_request": {"branches": ["main"]}}
    assert preview["jobs"]["preview"]["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert 'make preview STACK="$STACK"' in [s.get("run") for s in steps(preview)]

    assert deploy["on"] == {"push": {"branches": ["main"]}}
    assert deploy["jobs"]["prod"]["needs"] == "dev"
    assert deploy["jobs"]["prod"]["environment"] == "production"
    # Each stack applies the plan its approved preview saved, or nothing (README, "Plan binding").
    assert [s.get("run") for s in steps(deploy) if "make up" in s.get("run", "")] == [
        'make up STACK=dev PLAN="$PLAN" PLAN_DIGEST="$PLAN_DIGEST"',
        'make up STACK=prod PLAN="$PLAN" PLAN_DIGEST="$PLAN_DIGEST"',
    ]
    for job in ("dev", "prod"):
        found = [s for s in deploy["jobs"][job]["steps"] if s.get("id") == "plan"]
        assert found and found[0]["run"] == ".github/scripts/approved-plan.sh", job
        up = next(s for s in deploy["jobs"][job]["steps"] if s.get("name") == "make up")
        assert up["env"]["PLAN"] == "${{ steps.plan.outputs.plan }}", job
        assert up["env"]["PLAN_DIGEST"] == "${{ steps.plan.outputs.digest }}", job
    kept = [s for s in steps(preview) if str(s.get("uses", "")).startswith("actions/upload-")]
    # A fleet's plans and their manifest too, side by side as `make up PLAN=...` reads them.
    assert [s["with"]["path"].splitlines() for s in kept] == [
        [
            "build/plan-${{ matrix.stack }}.json",
            "build/plan-${{ matrix.stack }}.models-*.json",
            "build/plan-${{ matrix.stack }}-fleet.json",
        ]
    ]
    assert kept[0]["with"]["name"] == "plan-${{ matrix.stack }}"
    comment = next(s for s in steps(preview) if s.get("name") == "Comment the summary")
    assert comment["env"]["SUMMARY_FILE"] == "${{ steps.summary.outputs.file }}"
    which = next(s for s in steps(preview) if s.get("id") == "summary")
    assert "build/preview-summary-$STACK-fleet.md" in which["run"]
    # The digest the deploy requires is the one the comment prints: a fleet's is its fleet digest.
    script = (PROJECT_ROOT / ".github" / "scripts" / "approved-plan.sh").read_text()
    assert """kind='Update plan'""" in script
    assert """if [ -f "stacks/$STACK.yaml" ]; then kind='Fleet plan'; fi""" in script
    assert """grep -o "$kind"'\\*\\* `sha256:[0-9a-f]\\{64\\}`'""" in script

    assert "schedule" in drift["on"]
    assert drift["jobs"]["drift"]["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert 'make drift STACK="$STACK"' in [s.get("run") for s in steps(drift)]

    assert "make setup aws-plugins" in load(SETUP_ACTION)["runs"]["steps"][-1]["run"]


def test_the_scripts_find_comments_by_the_summarys_marker() -> None:
    scripts = PROJECT_ROOT / ".github" / "scripts"
    # The drift script's fallback marker, for a run that wrote no summary, is the summary's own.
    assert marker("${stack}") in (scripts / "report-drift.js").read_text()
    assert "startsWith(marker)" in (scripts / "upsert-comment.js").read_text()


def test_actionlint_says_whether_shellcheck_ran(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["actionlint", "check"]) == 0
    expected = "with" if shutil.which("shellcheck") else "without"
    assert f"3 workflow file(s), {expected} shellcheck: ok" in capsys.readouterr().out
