"""The engine's event stream of one preview, parsed once for every report built from it.

Two ways give the same stream, one JSON event a line:
  * `PULUMI_DEBUG_COMMANDS=true pulumi preview --diff --event-log EVENTS.jsonl`: the human diff
    on stdout and the events in a file, from one engine run (what `make preview` and CI do);
  * `PULUMI_ENABLE_STREAMING_JSON_PREVIEW=1 pulumi preview --json`: the events on stdout.

The plain `pulumi preview --json` prints a digest instead, which has no policy violations; it is
refused with a message saying what to run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Steps after which the resource no longer exists as `new` describes it (or at all).
_GONE = {"delete", "delete-replaced", "discard", "discard-replaced", "remove-pending-replace"}


class NotAnEventStream(ValueError):
    """The input is not the engine's event stream."""


def read_events(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Engine events, one JSON object a line; other lines (CLI chatter on stderr) are skipped."""
    events = []
    for line in lines:
        line = line.strip()
        if line == "{":
            # Events are one compact object a line; a lone brace opens the indented digest.
            raise NotAnEventStream(
                "this is the digest of `pulumi preview --json`, which has no policy events; run "
                "the preview with `--event-log FILE` (and PULUMI_DEBUG_COMMANDS=true) or with "
                "PULUMI_ENABLE_STREAMING_JSON_PREVIEW=1"
            )
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


@dataclass(frozen=True)
class Step:
    """One step the engine plans for a resource, as a resourcePreEvent reports it."""

    op: str
    urn: str
    type: str
    old: dict[str, Any] | None
    """The resource's inputs in the state, None for a create."""
    new: dict[str, Any] | None
    """The inputs the program registers now, None for a delete."""
    replace_keys: list[str] = field(default_factory=list)
    """Properties whose change forces a replacement."""
    changed: list[str] = field(default_factory=list)
    """Properties that differ (the detailed diff's paths)."""

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


def _inputs(state: dict[str, Any] | None) -> dict[str, Any] | None:
    if not state:
        return None
    inputs: dict[str, Any] = state.get("inputs") or {}
    return inputs


def steps(events: list[dict[str, Any]]) -> list[Step]:
    """Every step of the preview, unchanged resources (op `same`) included, in engine order."""
    found = []
    for event in events:
        if "resourcePreEvent" not in event:
            continue
        metadata = event["resourcePreEvent"]["metadata"]
        found.append(
            Step(
                op=metadata["op"],
                urn=metadata["urn"],
                type=metadata["type"],
                old=_inputs(metadata.get("old")),
                new=None if metadata["op"] in _GONE else _inputs(metadata.get("new")),
                replace_keys=list(metadata.get("keys") or []),
                changed=sorted(metadata.get("detailedDiff") or metadata.get("diffs") or []),
            )
        )
    return found


def states(found: list[Step]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Inputs of every resource by URN, before the change and after it."""
    before = {step.urn: step.old for step in found if step.old is not None}
    after = {step.urn: step.new for step in found if step.new is not None}
    return before, after


def errors(events: list[dict[str, Any]]) -> list[str]:
    """Error diagnostics, each once: why a preview failed (a bad model, a program error, an
    unreachable cluster, which the provider reports once per resource)."""
    messages = (
        event["diagnosticEvent"]["message"].strip()
        for event in events
        if "diagnosticEvent" in event and event["diagnosticEvent"].get("severity") == "error"
    )
    return list(dict.fromkeys(messages))


def change_counts(events: list[dict[str, Any]]) -> dict[str, int]:
    """The engine's own count of resources per operation (`same` included)."""
    for event in events:
        if "summaryEvent" in event:
            counts: dict[str, int] = event["summaryEvent"].get("resourceChanges") or {}
            return counts
    return {}
