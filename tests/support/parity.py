"""Previews of the parity program (tests/support/parity_program) with the policy pack: one
preview per fixture family, and each policy's verdict per resource read from the engine's events."""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

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

    def of(self, policy: str, urn: str) -> list[str]:
        return self.by_resource.get((policy, urn), [])


def urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{resource_type}::{name}"


class ParityProject:
    def __init__(self, workdir: Path) -> None:
        self.project = workdir / "project"
        shutil.copytree(PROGRAM, self.project, ignore=shutil.ignore_patterns("__pycache__"))
        backend = workdir / "state"
        backend.mkdir()
        self.stack = LocalStack(project=self.project, env=engine_env(backend), stack=STACK)
        self.stack.pulumi("stack", "init", STACK, "--secrets-provider", "passphrase")

    def preview(self, family: Family) -> EngineVerdicts:
        fixtures = [
            {"id": f.id, "type": f.resource_type, "props": f.props, "protect": f.protect}
            for f in family.fixtures
        ]
        (self.project / "fixtures.json").write_text(json.dumps(fixtures))
        config = self.project.parent / f"pack-{family.name}.json"
        config.write_text(json.dumps(family.pack_config()))
        log = self.project.parent / f"events-{family.name}.jsonl"
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
            dict(found), seconds, result.returncode, result.stdout + result.stderr
        )
