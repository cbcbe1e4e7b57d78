"""Previews of a test program with the policy pack, and each policy's verdict per resource read
from the engine's events: the parity program (tests/support/parity_program), one preview per
fixture family, and any other program under tests/support (`PackPreview`)."""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from commands.engine_events import read_events
from tests.support.engine import ROOT, LocalStack, engine_env
from tests.support.policy_fixtures import Family

PROGRAM = Path(__file__).resolve().parent / "parity_program"
PROJECT = "policy-parity"
STACK = "parity"


@dataclass
class EngineVerdicts:
    by_resource: dict[tuple[str, str], list[str]]
    """(policy, urn) -> the findings the engine reported, in its order."""
    seconds: float
    returncode: int
    output: str
    events: list[dict[str, Any]] = field(default_factory=list)
    """The preview's engine events (commands.engine_events), for what the program registered."""

    def of(self, policy: str, urn: str) -> list[str]:
        return self.by_resource.get((policy, urn), [])


def urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{resource_type}::{name}"


class PackPreview:
    """A test program copied into `workdir` with a stack of its own in a private backend, previewed
    with the policy pack. `extra_env` reaches the program (PYTHONPATH, say, for one that imports
    the project's components)."""

    def __init__(
        self, program: Path, workdir: Path, extra_env: Mapping[str, str] | None = None
    ) -> None:
        self.project = workdir / "project"
        shutil.copytree(program, self.project, ignore=shutil.ignore_patterns("__pycache__"))
        backend = workdir / "state"
        backend.mkdir()
        env = {**engine_env(backend), **(extra_env or {})}
        self.stack = LocalStack(project=self.project, env=env, stack=STACK)
        self.stack.pulumi("stack", "init", STACK, "--secrets-provider", "passphrase")

    def preview_with_pack(self, label: str, pack_config: Mapping[str, Any]) -> EngineVerdicts:
        """One preview with the pack at `pack_config`; `label` names its files in the workdir."""
        config = self.project.parent / f"pack-{label}.json"
        config.write_text(json.dumps(pack_config))
        log = self.project.parent / f"events-{label}.jsonl"
        log.unlink(missing_ok=True)
        started = time.monotonic()
        result = self.stack.pulumi(
            "preview",
            "--event-log",
            str(log),
            "--policy-pack",
            str(ROOT / "policies"),
            "--policy-pack-config",
            str(config),
            check=False,
            extra_env={"PULUMI_DEBUG_COMMANDS": "true"},
        )
        seconds = time.monotonic() - started
        found: dict[tuple[str, str], list[str]] = defaultdict(list)
        events = read_events(log.read_text().splitlines()) if log.exists() else []
        for event in events:
            policy = event.get("policyEvent")
            if policy:
                # The engine puts the policy's description first; the finding is the last line.
                finding = policy["message"].rstrip("\n").split("\n")[-1]
                found[(policy["policyName"], policy.get("resourceUrn") or "")].append(finding)
        return EngineVerdicts(
            dict(found), seconds, result.returncode, result.stdout + result.stderr, events
        )


class ParityProject(PackPreview):
    def __init__(self, workdir: Path) -> None:
        super().__init__(PROGRAM, workdir)

    def preview(self, family: Family) -> EngineVerdicts:
        fixtures = [
            {"id": f.id, "type": f.resource_type, "props": f.props, "protect": f.protect}
            for f in family.fixtures
        ]
        (self.project / "fixtures.json").write_text(json.dumps(fixtures))
        return self.preview_with_pack(family.name, family.pack_config())
