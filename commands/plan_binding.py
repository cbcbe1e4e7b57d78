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

A fleet (a platform stack and the models stacks `stacks/<platform>.yaml` lists) is bound as one:
`make preview` writes, beside the stacks' plans, a manifest `plan-<platform>-fleet.json` naming
each previewed stack and its plan's digest, and the fleet comment prints the **fleet digest**, the
digest of the manifest's canonical content (`fleet_digest`). A stack absent from the manifest was
not previewed and is not applied. `make up PLAN=plan-<platform>.json PLAN_DIGEST=<fleet digest>`
checks the manifest and every plan it names before anything moves or runs (`verify-fleet`, which
prints the stacks to apply), then each stack's `verify` checks its plan against the manifest's
digest for it (`--fleet`): every stack is bound, not only the platform.

  python -m commands.plan_binding digest PLAN
  python -m commands.plan_binding verify PLAN [--digest sha256:HEX]
  python -m commands.plan_binding verify PLAN --fleet MANIFEST --stack STACK [--digest FLEET]
  python -m commands.plan_binding verify-fleet MANIFEST --plan PLAN --stacks PLATFORM ...
                                               [--digest FLEET]
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


def stack_plan_path(plan_dir: Path, stack: str) -> Path:
    """Where `make preview` saves a stack's plan (the Makefile's `--save-plan`): a fleet's plans
    are read from beside each other, by stack name."""
    return plan_dir / f"plan-{stack}.json"


def fleet_manifest_path(plan_dir: Path, platform: str) -> Path:
    return plan_dir / f"plan-{platform}-fleet.json"


def fleet_manifest(platform: str, plans: dict[str, str]) -> dict[str, Any]:
    """The manifest of a fleet preview: each previewed stack and its plan's digest."""
    return {"platform": platform, "plans": dict(sorted(plans.items()))}


def fleet_digest(manifest: dict[str, Any]) -> str:
    """The digest reviewers approve for a fleet: over the manifest's content, not its file's
    bytes, so that it names the plans whatever whitespace or key order a file is written with."""
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return digest_of(canonical.encode())


@dataclass(frozen=True)
class FleetPlan:
    path: Path
    platform: str
    plans: dict[str, str]
    """Stack to the digest of its plan; a stack not listed is not applied."""
    digest: str


def load_fleet_plan(path: Path) -> FleetPlan:
    try:
        raw = json.loads(path.read_bytes())
    except OSError as error:
        raise PlanError(
            f"{path}: cannot read the fleet's plan manifest: {error.strerror} (`make preview` of "
            "a fleet writes it beside the stacks' plans, unless a stack's preview failed)"
        ) from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PlanError(f"{path}: not a fleet plan manifest (not JSON: {error})") from error
    plans = raw.get("plans") if isinstance(raw, dict) else None
    if (
        not isinstance(raw, dict)
        or set(raw) != {"platform", "plans"}
        or not isinstance(raw["platform"], str)
        or not isinstance(plans, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in plans.items())
    ):
        raise PlanError(
            f"{path}: not a fleet plan manifest: expected exactly `platform` (a stack) and "
            "`plans` (stack to sha256 digest)"
        )
    return FleetPlan(path, raw["platform"], dict(plans), fleet_digest(raw))


def check_fleet_digest(fleet: FleetPlan, expected_digest: str | None) -> None:
    if expected_digest and expected_digest != fleet.digest:
        raise PlanError(
            f"{fleet.path}: fleet digest {fleet.digest} is not the approved {expected_digest}: "
            "these are not the plans the reviewed preview saved; nothing was applied"
        )


def check_fleet(
    fleet: FleetPlan, expected_digest: str | None, plan: Path, stacks: list[str]
) -> list[str]:
    """The stacks a fleet's `make up PLAN=plan` applies, in `stacks`' order (the platform, then
    its models stacks): those the manifest lists, once every plan it names is the one it names.
    Every problem found is raised at once, each naming its file."""
    check_fleet_digest(fleet, expected_digest)
    platform = stacks[0]
    problems = []
    if fleet.platform != platform:
        problems.append(f"{fleet.path}: the manifest of {fleet.platform}'s fleet, not {platform}'s")
    if plan.resolve() != stack_plan_path(fleet.path.parent, platform).resolve():
        problems.append(
            f"{plan}: a fleet's plans are read as plan-<stack>.json beside their manifest: "
            f"PLAN must be {stack_plan_path(fleet.path.parent, platform)}"
        )
    for stack in sorted(set(fleet.plans) - set(stacks)):
        problems.append(
            f"{fleet.path}: lists {stack}, which is not a stack of {platform}'s fleet "
            f"(stacks/{platform}.yaml)"
        )
    for stack in [s for s in stacks if s in fleet.plans]:
        try:
            found = load_plan(stack_plan_path(fleet.path.parent, stack))
            verify(found, fleet.plans[stack])
        except PlanError as error:
            problems.append(str(error))
    if problems:
        raise PlanError(
            "the fleet's plans do not bind; nothing was applied:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )
    return [stack for stack in stacks if stack in fleet.plans]


def not_applied(fleet: FleetPlan, stacks: list[str]) -> list[str]:
    """One line per stack of `stacks` the manifest does not list: it is not applied, and a plan
    file of it beside the manifest (another run's, or a preview of that stack alone) is not used."""
    lines = []
    for stack in stacks:
        if stack in fleet.plans:
            continue
        path = stack_plan_path(fleet.path.parent, stack)
        lines.append(
            f"[fleet] {stack}: not in the approved fleet plan (not previewed in the reviewed run), "
            "so not applied"
            + (f"; {path} is not one of its plans and is not used" if path.exists() else "")
        )
    return lines


def stack_digest(fleet: FleetPlan, expected_digest: str | None, stack: str) -> str:
    """The digest the approved fleet plan binds `stack`'s plan to."""
    check_fleet_digest(fleet, expected_digest)
    if stack not in fleet.plans:
        raise PlanError(
            f"{fleet.path}: the approved fleet plan does not list {stack} (not previewed in the "
            "reviewed run), so no plan of it may be applied; nothing was applied"
        )
    return fleet.plans[stack]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    digest = sub.add_parser("digest", help="print a plan file's digest")
    digest.add_argument("plan", type=Path)
    check = sub.add_parser("verify", help="check a plan before it is applied")
    check.add_argument("plan", type=Path)
    check.add_argument("--digest", help="the digest the reviewed preview printed")
    check.add_argument(
        "--fleet", type=Path, help="the fleet's manifest: --digest is then the fleet digest"
    )
    check.add_argument("--stack", help="with --fleet: whose plan PLAN is")
    fleet = sub.add_parser(
        "verify-fleet", help="check a fleet's manifest and plans; print the stacks to apply"
    )
    fleet.add_argument("manifest", type=Path)
    fleet.add_argument("--plan", type=Path, required=True, help="PLAN: the platform's plan file")
    fleet.add_argument(
        "--stacks", nargs="+", required=True, help="the platform stack, then its models stacks"
    )
    fleet.add_argument("--digest", help="the fleet digest the reviewed comment printed")
    compare = sub.add_parser("compare", help="refuse when FRESH does what APPROVED does not")
    compare.add_argument("approved", type=Path)
    compare.add_argument("fresh", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "digest":
            print(load_plan(args.plan).digest)
            return 0
        if args.command == "verify":
            expected = args.digest
            if args.fleet is not None:
                if not args.stack:
                    parser.error("verify --fleet needs --stack")
                expected = stack_digest(load_fleet_plan(args.fleet), args.digest, args.stack)
            plan = load_plan(args.plan)
            verify(plan, expected)
            print(f"[plan] {plan.path}: {plan.digest}, {len(plan.resources)} resources planned")
            return 0
        if args.command == "verify-fleet":
            manifest = load_fleet_plan(args.manifest)
            applied = check_fleet(manifest, args.digest, args.plan, args.stacks)
            # stdout is the list the Makefile applies; what it says to people goes to stderr.
            print(
                f"[plan] {manifest.path}: {manifest.digest}, the approved plans of "
                f"{len(applied)} stacks: {', '.join(applied) or 'none'}",
                file=sys.stderr,
            )
            for line in not_applied(manifest, args.stacks):
                print(line, file=sys.stderr)
            print("\n".join(applied))
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
