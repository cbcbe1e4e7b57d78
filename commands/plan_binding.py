"""Plan binding (issue #17): the deploy applies what the reviewed preview planned, or nothing.

`make preview` saves the engine's update plan (`pulumi preview --save-plan`, a preview feature of
the pinned CLI 3.215) to build/plan-<stack>.json and the summary prints its digest. `make up
PLAN=FILE [PLAN_DIGEST=sha256:...]` then, before the engine changes anything:

  1. `verify`: the file is an update plan, its digest is the one the reviewed summary printed
     (when given), and it creates no provider (see `provider_changes`);
  2. previews again into a fresh plan and `compare`s the two: a resource the stack would now
     create, update, replace or delete that the approved plan does not hold the same way (same
     steps, same goal: inputs, provider, dependencies, options) is named and the run stops;
  3. runs `pulumi up --plan FILE`: the engine itself refuses any step beyond the plan, for a
     change that lands between 2 and 3.

Step 2 exists because the engine's own check (3) acts per resource as the update reaches it:
measured here, an `up --plan` whose Deployment no longer matched its plan still applied the two
other planned updates before it failed. The comparison refuses before any of them.

  python -m commands.plan_binding digest PLAN
  python -m commands.plan_binding verify PLAN [--digest sha256:HEX]
  python -m commands.plan_binding compare APPROVED FRESH
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROVIDER_TYPE_PREFIX = "pulumi:providers:"
# Shown per refused resource; the rest are counted.
MAX_PATHS = 6
MAX_RESOURCES = 20


class PlanError(Exception):
    """A plan file that cannot be used, or a plan that does not bind; the message says why."""


@dataclass(frozen=True)
class Plan:
    path: Path
    digest: str
    config: dict[str, Any]
    resources: dict[str, dict[str, Any]]
    """URN to the engine's resource plan: `goal`, `steps`, `state`, `seed`."""


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def load_plan(path: Path) -> Plan:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PlanError(f"{path}: cannot read the plan: {error.strerror}") from error
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PlanError(f"{path}: not an update plan (not JSON: {error})") from error
    if not isinstance(raw, dict) or not isinstance(raw.get("resourcePlans"), dict):
        raise PlanError(
            f"{path}: not an update plan: no `resourcePlans` (save one with "
            "`make preview`, which runs `pulumi preview --save-plan`)"
        )
    config = raw.get("config")
    config = {} if config is None else config
    if not isinstance(config, dict):
        raise PlanError(f"{path}: `config` is {type(config).__name__}, expected a mapping")
    return Plan(path, digest_of(data), config, raw["resourcePlans"])


def provider_changes(plan: Plan) -> list[str]:
    """Providers the plan creates or replaces. The pinned engine (3.215) refuses its own plan for
    them: the new provider's id is unknown at preview, so every resource using it "violates the
    plan" (`properties changed: ++provider`), after the resources before it were applied
    (measured on a new `local` stack). Such a change cannot be bound to a plan."""
    return sorted(
        f"{urn} ({'/'.join(_steps(entry))})"
        for urn, entry in plan.resources.items()
        if _type_of(urn, entry).startswith(PROVIDER_TYPE_PREFIX)
        and set(_steps(entry)) - {"same", "delete"}
    )


def _type_of(urn: str, entry: dict[str, Any]) -> str:
    goal = entry.get("goal")
    if isinstance(goal, dict) and isinstance(goal.get("type"), str):
        return str(goal["type"])
    # A URN is urn:pulumi:STACK::PROJECT::PARENT-TYPE$...$TYPE::NAME.
    parts = urn.split("::")
    return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""


def _normalised_goal(goal: object) -> object:
    """A resource's goal with the orders that vary between two previews of the same program
    sorted: the engine lists dependencies in registration order, which is concurrent."""
    if not isinstance(goal, dict):
        return goal
    out = dict(goal)
    if isinstance(out.get("dependencies"), list):
        out["dependencies"] = sorted(out["dependencies"])
    deps = out.get("propertyDependencies")
    if isinstance(deps, dict):
        out["propertyDependencies"] = {
            key: sorted(value) if isinstance(value, list) else value for key, value in deps.items()
        }
    return out


def changed_paths(old: object, new: object, path: str = "") -> list[str]:
    """Dotted paths where two JSON values differ (a list differing in length is one path)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[str] = []
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                found.append(f"{path}.{key}" if path else key)
            else:
                found += changed_paths(old[key], new[key], f"{path}.{key}" if path else key)
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        found = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            found += changed_paths(a, b, f"{path}[{index}]")
        return found
    return [] if old == new else [path or "(whole value)"]


def _steps(entry: dict[str, Any]) -> list[str]:
    return [str(step) for step in entry.get("steps") or []]


def _acts(entry: dict[str, Any]) -> bool:
    return bool(set(_steps(entry)) - {"same"})


def differences(approved: Plan, fresh: Plan) -> list[str]:
    """What the stack would do now (`fresh`) that the approved plan does not hold, one line each;
    empty when the fresh plan is the approved one."""
    found: list[str] = []
    for key in changed_paths(approved.config, fresh.config):
        found.append(f"stack config `{key}` differs from the approved preview's")
    for urn in sorted(set(approved.resources) | set(fresh.resources)):
        old, new = approved.resources.get(urn), fresh.resources.get(urn)
        if old is None and new is not None:
            if _acts(new):
                found.append(f"{urn}: would {'/'.join(_steps(new))}, not in the approved plan")
            continue
        if new is None and old is not None:
            if _acts(old):
                found.append(
                    f"{urn}: the approved plan would {'/'.join(_steps(old))} it; "
                    "the program no longer declares it"
                )
            continue
        assert old is not None and new is not None
        if _steps(old) != _steps(new):
            found.append(f"{urn}: would {'/'.join(_steps(new))}, approved: {'/'.join(_steps(old))}")
            continue
        paths = changed_paths(_normalised_goal(old.get("goal")), _normalised_goal(new.get("goal")))
        if paths:
            shown = ", ".join(f"`{p}`" for p in paths[:MAX_PATHS])
            more = f" and {len(paths) - MAX_PATHS} more" if len(paths) > MAX_PATHS else ""
            found.append(
                f"{urn}: {'/'.join(_steps(new))} with other inputs than approved: {shown}{more}"
            )
    return found


def verify(plan: Plan, expected_digest: str | None) -> None:
    if expected_digest and expected_digest != plan.digest:
        raise PlanError(
            f"{plan.path}: digest {plan.digest} is not the approved {expected_digest}: this is "
            "not the plan the reviewed preview saved; nothing was applied"
        )
    providers = provider_changes(plan)
    if providers:
        raise PlanError(
            f"{plan.path}: the plan creates or replaces a provider, which pulumi 3.215 cannot "
            "apply under a plan (the provider's id is unknown at preview, so the engine refuses "
            "every resource using it): " + "; ".join(providers) + ". Nothing was applied; a "
            "stack's first deploy or a change of its cluster is deployed without PLAN, after "
            "review of its preview"
        )


def refusal(approved: Plan, found: list[str]) -> str:
    shown = found[:MAX_RESOURCES]
    more = len(found) - len(shown)
    lines = [
        f"[plan] refused: the stack would now do what the approved plan {approved.path} "
        f"({approved.digest}) does not contain; nothing was applied:",
        *(f"[plan]   - {line}" for line in shown),
    ]
    if more:
        lines.append(f"[plan]   ... and {more} more")
    lines.append(
        "[plan] something changed after the preview was approved (the code, a model or its gate "
        "record, the stack's config, or an object on the cluster): preview again "
        "(`make preview`) and have that reviewed"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    digest = sub.add_parser("digest", help="print a plan file's digest")
    digest.add_argument("plan", type=Path)
    check = sub.add_parser("verify", help="check a plan before it is applied")
    check.add_argument("plan", type=Path)
    check.add_argument("--digest", help="the digest the reviewed preview printed")
    compare = sub.add_parser("compare", help="refuse when FRESH does what APPROVED does not")
    compare.add_argument("approved", type=Path)
    compare.add_argument("fresh", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "digest":
            print(load_plan(args.plan).digest)
            return 0
        if args.command == "verify":
            plan = load_plan(args.plan)
            verify(plan, args.digest)
            print(f"[plan] {plan.path}: {plan.digest}, {len(plan.resources)} resources planned")
            return 0
        approved, fresh = load_plan(args.approved), load_plan(args.fresh)
    except PlanError as error:
        print(f"[plan] refused: {error}", file=sys.stderr)
        return 1
    found = differences(approved, fresh)
    if found:
        print(refusal(approved, found), file=sys.stderr)
        return 1
    acting = sum(1 for entry in approved.resources.values() if _acts(entry))
    print(
        f"[plan] the stack plans exactly the approved plan ({approved.digest}): "
        f"{acting} resources to change, {len(approved.resources) - acting} unchanged"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
