"""Policy report of one preview: a JSON file for machines and a short summary for people.

Reads the engine's event stream (see commands.engine_events), which carries one policyEvent per
violation and a summary of what each policy checked:

  python -m commands.policy_report EVENTS.jsonl --stack local --out build/policy-report-local.json \
      --policy-config policies/config/local.json

With --policy-config, every exemption that config grants (policy, object, findings, reason) is in
the report, marked with whether its object is in this preview, and the summary counts those that
are: an exempt finding is never silent, and an exemption of an object the preview does not hold
(the charts skipped, say) is not counted as one. The pack itself reports an exemption whose
finding no longer occurs on its object (policies/support.py).

Exit status 1 when a mandatory policy was violated, else 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from commands.engine_events import read_events
from policies.kube import resource_id


def previewed_objects(events: list[dict[str, Any]]) -> set[str]:
    """Every object of the preview (planned or kept), named as exemptions name it."""
    found = set()
    for event in events:
        metadata = event.get("resourcePreEvent", {}).get("metadata")
        if metadata:
            state = metadata.get("new") or metadata.get("old") or {}
            found.add(resource_id(metadata["type"], state.get("inputs") or {}))
    return found


def exemptions_of(policy_config: dict[str, Any], previewed: set[str]) -> list[dict[str, Any]]:
    """Every exemption a pack config grants, with the policy granting it and whether its object
    is in the preview."""
    return [
        {"policy": policy, **exemption, "inPreview": exemption["resource"] in previewed}
        for policy, settings in sorted(policy_config.items())
        if isinstance(settings, dict)
        for exemption in settings.get("exemptions") or []
    ]


def build_report(
    events: list[dict[str, Any]], stack: str, policy_config: dict[str, Any] | None = None
) -> dict[str, Any]:
    violations = []
    checked: dict[str, int] = {}
    packs: dict[str, str] = {}
    for event in events:
        if "policyEvent" in event:
            policy = event["policyEvent"]
            # The engine prefixes the message with the policy's description; keep the finding.
            finding = policy["message"].rstrip("\n").split("\n")[-1]
            violations.append(
                {
                    "policy": policy["policyName"],
                    "severity": policy.get("severity") or "unspecified",
                    "enforcement": policy["enforcementLevel"],
                    "resource": policy.get("resourceUrn") or None,
                    "message": finding,
                }
            )
        for kind in ("policyAnalyzeSummaryEvent", "policyAnalyzeStackSummaryEvent"):
            if kind in event:
                summary = event[kind]
                packs[summary["policyPackName"]] = summary["policyPackVersion"]
                for name in [*summary.get("passed", []), *summary.get("failed", [])]:
                    checked[name] = checked.get(name, 0) + 1
    mandatory = [v for v in violations if v["enforcement"] == "mandatory"]
    return {
        "stack": stack,
        "packs": packs,
        "policies": dict(sorted(checked.items())),
        "violations": violations,
        "exemptions": exemptions_of(policy_config or {}, previewed_objects(events)),
        "mandatoryViolations": len(mandatory),
        "advisoryViolations": len(violations) - len(mandatory),
        "passed": not mandatory,
    }


def summary(report: dict[str, Any]) -> str:
    packs = ", ".join(f"{name}@{version}" for name, version in report["packs"].items())
    if not packs:
        return f"policies ({report['stack']}): no policy pack ran"
    head = (
        f"policies ({report['stack']}): {packs}, {len(report['policies'])} policies: "
        f"{report['mandatoryViolations']} mandatory and {report['advisoryViolations']} advisory "
        "violations"
    )
    lines = [head]
    for violation in report["violations"]:
        resource = (violation["resource"] or "stack").rsplit("::", 1)[-1]
        lines.append(
            f"  [{violation['enforcement']}/{violation['severity']}] {violation['policy']} "
            f"({resource}): {violation['message']}"
        )
    granted = report.get("exemptions") or []
    exemptions = [e for e in granted if e["inPreview"]]
    if exemptions:
        findings = sum(len(exemption["findings"]) for exemption in exemptions)
        objects = len({exemption["resource"] for exemption in exemptions})
        lines.append(
            f"  exempt by the pack's config: {findings} findings in {len(exemptions)} "
            f"exemptions, on {objects} objects"
        )
        lines += [
            f"  [exempt] {e['policy']} ({e['resource']}): {len(e['findings'])} finding(s): "
            f"{e['reason']}"
            for e in exemptions
        ]
    if len(granted) > len(exemptions):
        lines.append(
            f"  {len(granted) - len(exemptions)} exemptions of the pack's config name objects "
            "not in this preview"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", type=Path)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--policy-config", type=Path, help="the pack config the preview ran with")
    args = parser.parse_args(argv)
    policy_config = json.loads(args.policy_config.read_text()) if args.policy_config else None
    report = build_report(
        read_events(args.events.read_text().splitlines()), args.stack, policy_config
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(summary(report))
    print(f"  report: {args.out}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
