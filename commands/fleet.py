"""The stacks of an environment, for `make up`, `make preview` and `make destroy` (issue #19,
docs/fleet-scale.md): the platform stack and the models stacks `stacks/<platform>.yaml` lists.

    python -m commands.fleet models-stacks STACK    # STACK's models stacks, one a line (none
                                                    # for a models stack, or without a file)
    python -m commands.fleet affected STACK [REF]   # of STACK and those, the ones a change
                                                    # since the git commit REF can affect (below);
                                                    # without REF, all of them
    python -m commands.fleet move STACK [--dry-run] # move the state of each model into the stack
                                                    # the file assigns it (below)
    python -m commands.fleet move STACK --refuse    # with PLAN: fail, moving nothing, when a
                                                    # model would move (the plans were made
                                                    # before the move)
    python -m commands.fleet summary STACK [PREVIEWED ...] [--failed]
                                                    # one PR comment from the summaries of the
                                                    # stacks PREVIEWED (STACK, its models
                                                    # stacks), the others named as not
                                                    # previewed; printed and written to
                                                    # build/preview-summary-STACK-fleet.md; and
                                                    # the manifest of their plans,
                                                    # build/plan-STACK-fleet.json, whose digest
                                                    # the comment prints (below)

What a change can affect: a models stack's objects are built from its models' folders and from
everything outside `models/` (components, config, policies, the stacks file). So a change that
touches only folders under `models/` affects the stacks holding those models; any other change
affects every stack. The platform stack reads from a model's folder only its name and its gated
images (the admission allow-list): a change to models held by models stacks affects it only when
their gated images differ from the allow-list it last deployed (platform_affected).

Moving a model into a models stack moves its state, never its objects: `make up` runs `move`
before any engine run, so the platform's `up` does not delete what the models stack would then
create again. For each model whose resources are in another stack than the file assigns (the
platform, or another models stack), `pulumi state move` takes its top-level resources (its
ModelService, ModelMonitoring and ScaledObjects, each with its children) to the assigned stack,
creating that stack if needed. A model the file assigns to no models stack moves back into the
platform stack the same way: the platform registers its monitoring and ScaledObjects under its
own components, with an alias of a models stack's top level (components/tokens.py), so the engine
renames them there instead of replacing them.

What a fleet preview lets `make up PLAN=...` apply (commands/plan_binding.py): the plans of the
stacks previewed, named with their digests in one manifest whose digest the comment prints. Only a
preview that can be approved writes it: none when a stack's preview failed (`--failed`, or a plan
missing or unreadable), when a plan cannot be bound (it creates a provider), or when models move
between stacks (their plans were made before the move).

A bad stacks file fails with its problems named by file and field (exit 2), before any engine
runs.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from commands.backend_state import (
    StateUnreadable,
    file_backend_states,
    read_deployment,
    stack_outputs,
)
from commands.plan_binding import (
    PlanError,
    fleet_digest,
    fleet_manifest,
    fleet_manifest_path,
    load_plan,
    provider_changes,
    stack_plan_path,
)
from commands.pr_comment import marker
from components.catalog.folders import model_names
from components.facts.yaml_input import load_yaml
from components.fleet.stacks import (
    FleetStacksError,
    fleet_stacks_path,
    load_fleet_stacks,
    models_stack_name,
    stack_role,
)
from components.outputs import ADMITTED_IMAGES

PROJECT = Path(__file__).resolve().parent.parent
# Pulumi.yaml's name (components.settings.load.PROJECT, not imported: it imports the SDK, and
# these commands run on every `make preview`).
PULUMI_PROJECT = "gpu-model-platform"
BUILD = PROJECT / "build"


def model_folders(project: Path) -> list[str]:
    """The models as folders name them; the program validates the rest (components.catalog)."""
    return model_names(project / "models")


def models_stacks(project: Path, stack: str) -> list[str]:
    """The models stacks of `stack`, in the file's order; none when `stack` is one itself."""
    role = stack_role(stack)
    if role.models_stack is not None:
        return []
    fleet = load_fleet_stacks(project, role.platform, model_folders(project))
    return [models_stack_name(role.platform, name) for name in fleet.models_stacks]


# What a model is in a stack's state: its top-level resources, as both programs name them
# (programs/platform.py, programs/models.py); their children move with them.
MODEL_RESOURCES = (
    ("gpu-model-platform:serving:ModelService", "{model}"),
    ("gpu-model-platform:monitoring:ModelMonitoring", "{model}-monitoring"),
    ("kubernetes:keda.sh/v1alpha1:ScaledObject", "{model}-(stable|canary)-scaledobject"),
)


def model_of(urn: str, models: list[str]) -> str | None:
    """The model whose top-level resource `urn` is, if it is one."""
    types, _, name = urn.rpartition("::")
    own_type = types.rpartition("::")[2].rpartition("$")[2]
    for model in models:
        for kind, pattern in MODEL_RESOURCES:
            if own_type == kind and re.fullmatch(pattern.format(model=re.escape(model)), name):
                return model
    return None


@dataclass(frozen=True)
class Move:
    model: str
    source: str
    dest: str
    urns: tuple[str, ...]


def pulumi(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["pulumi", "--non-interactive", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise FleetStacksError(
            f"`pulumi {' '.join(args)}` exited {result.returncode}: {result.stderr.strip()}"
        )
    return result


def existing_stacks() -> set[str]:
    files = file_backend_states(PULUMI_PROJECT)  # no CLI start (commands/backend_state.py)
    if files is not None:
        return set(files)
    listed = json.loads(pulumi("stack", "ls", "--json").stdout or "[]")
    return {entry["name"].rpartition("/")[2] for entry in listed}


def state_urns(stack: str) -> list[str]:
    try:
        deployment = read_deployment(PULUMI_PROJECT, stack)
    except StateUnreadable as error:
        raise FleetStacksError(f"the state of {stack}: {error}") from None
    return [r["urn"] for r in deployment.get("resources") or []]


def planned_moves(
    platform: str, assigned: dict[str, str], urns_of: dict[str, list[str]]
) -> list[Move]:
    """The moves that put each model's resources in its `assigned` stack, from the state of
    each stack (`urns_of`); a model assigned nowhere belongs to the platform stack, and moves
    back there (the platform program's aliases take its resources for its own)."""
    found: dict[tuple[str, str], list[str]] = {}
    for stack, urns in urns_of.items():
        for urn in urns:
            model = model_of(urn, list(assigned))
            if model is not None:
                found.setdefault((model, stack), []).append(urn)
    moves = []
    for (model, stack), urns in sorted(found.items()):
        dest = assigned[model]
        if stack == dest:
            continue
        moves.append(Move(model=model, source=stack, dest=dest, urns=tuple(urns)))
    return moves


def pending_moves(project: Path, stack: str, existing: set[str] | None = None) -> list[Move]:
    """The state moves that would put each of `stack`'s models in the stack the file assigns;
    `existing`: the stacks there are, when the caller listed them already."""
    role = stack_role(stack)
    if role.models_stack is not None:
        raise FleetStacksError(f"{stack} is a models stack: run move on its platform stack")
    names = model_folders(project)
    fleet = load_fleet_stacks(project, stack, names)
    assigned = {model: stack for model in names}
    for name, held in fleet.models_stacks.items():
        for model in held:
            assigned[model] = models_stack_name(stack, name)
    existing = existing_stacks() if existing is None else existing
    # Every models stack of this platform, listed or not: a stack dropped from the file may
    # still hold models, which must move to where the file now puts them.
    stacks = [stack, *sorted(s for s in existing if stack_role(s).platform == stack and s != stack)]
    if stacks == [stack] and not fleet.models_stacks:
        return []  # the one-stack layout: nothing is anywhere else
    return planned_moves(stack, assigned, {s: state_urns(s) for s in stacks if s in existing})


def secrets_provider_args(project: Path, platform: str) -> list[str]:
    """`stack init` flags giving a new models stack its platform's secrets provider (the stack
    file's `secretsprovider`, e.g. awskms:// on dev and prod), else a passphrase."""
    stack_file = project / f"Pulumi.{platform}.yaml"
    document = load_yaml(stack_file.read_text(), stack_file.name) if stack_file.is_file() else {}
    provider = (document or {}).get("secretsprovider") or "passphrase"
    return ["--secrets-provider", str(provider)]


def move_models(project: Path, stack: str, dry_run: bool) -> list[Move]:
    existing = existing_stacks()
    moves = pending_moves(project, stack, existing)
    for move in moves:
        print(
            f"[fleet] {move.model}: state of {len(move.urns)} resources {move.source} -> "
            f"{move.dest}{' (dry run)' if dry_run else ''}"
        )
        if dry_run:
            continue
        if move.dest not in existing:
            pulumi("stack", "init", move.dest, *secrets_provider_args(project, stack))
            existing.add(move.dest)
        pulumi("state", "move", "--source", move.source, "--dest", move.dest, "--yes", *move.urns)
    return moves


def move_refusal(moves: list[Move]) -> str:
    """Why `make up PLAN=...` stops before a state move: every plan was made with the models where
    they were, so after the move none of them is what the stacks would do."""
    return "\n".join(
        [
            "[fleet] refused: with PLAN, no model may move between stacks: the approved plans "
            "were made before the move; nothing was moved or applied:",
            *(f"[fleet]   - {m.model}: {m.source} -> {m.dest}" for m in moves),
            "[fleet] deploy this change with `make up` (without PLAN) after review of its preview",
        ]
    )


def changed_paths(project: Path, since: str) -> list[str]:
    """Files changed between the commit `since` and the working tree (committed or not)."""
    result = subprocess.run(
        ["git", "diff", "--name-only", since, "--"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise FleetStacksError(f"git diff --name-only {since}: {result.stderr.strip()}")
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(set(result.stdout.split()) | set(untracked.stdout.split()))


def changed_models(changed: list[str]) -> set[str] | None:
    """The models whose folders the `changed` paths are in; None when one is outside them."""
    models: set[str] = set()
    for path in changed:
        parts = PurePosixPath(path).parts
        if len(parts) < 3 or parts[0] != "models":
            return None
        models.add(parts[1])
    return models


def affected_models_stacks(project: Path, stack: str, changed: list[str]) -> list[str]:
    """Of `stack`'s models stacks, those the `changed` paths can affect."""
    stacks = models_stacks(project, stack)
    models = changed_models(changed)
    if models is None:
        return stacks  # outside a model's folder: anything may change
    fleet = load_fleet_stacks(project, stack, model_folders(project))
    return [
        models_stack_name(stack, name)
        for name, held in fleet.models_stacks.items()
        if models & set(held)
    ]


def admitted_images(outputs: dict[str, Any] | None) -> dict[str, set[str]] | None:
    """The platform's admission allow-list as last deployed (its stack output), as `name:tag` by
    model; None when the stack has none (never deployed, or by a program that did not export it)."""
    if outputs is None or not isinstance(outputs.get(ADMITTED_IMAGES), list):
        return None
    images: dict[str, set[str]] = {}
    for reference in outputs[ADMITTED_IMAGES]:
        image = str(reference).rpartition("/")[2]  # the registry is the platform's config
        images.setdefault(image.partition(":")[0], set()).add(image)
    return images


def platform_affected(project: Path, stack: str, changed: list[str]) -> bool:
    """Whether the `changed` paths can change what the platform stack `stack` deploys. From a
    model's folder the platform reads the model's name (its registry repository) and the image of
    each gated version (the admission allow-list, GatedImageAdmission); the rest of a model held
    by a models stack is that stack's. So a change inside the folders of models held by models
    stacks affects the platform only when their gated images differ from the allow-list the
    platform last deployed, read from its stack output. Anything else affects it: a path outside
    those folders, a model the platform holds, no change at all (the platform is then the one
    stack previewed), a catalog or config that does not load (its preview says why), a platform
    never deployed."""
    # Imported here: they import the SDK, which the other commands of this module do without.
    from components.catalog.load import CatalogError, load_catalog
    from components.serving.builders import image_tag
    from components.settings.load import ConfigError, platform_settings

    models = changed_models(changed)
    if not models:
        return True
    fleet = load_fleet_stacks(project, stack, model_folders(project))
    if models - {name for held in fleet.models_stacks.values() for name in held}:
        return True
    deployed = admitted_images(stack_outputs(PULUMI_PROJECT, stack))
    if deployed is None:
        return True
    try:
        settings = platform_settings(project, stack)
        entries = load_catalog(
            project / "models", settings.max_gpus_per_pod, settings.node_gpu_types, only=models
        )
    except (CatalogError, ConfigError):
        return True
    now = {
        entry.spec.name: {
            f"{entry.spec.name}:{image_tag(entry.spec, version, digest)}"
            for version, digest in entry.gated.items()
        }
        for entry in entries
    }
    return any(now.get(name, set()) != deployed.get(name, set()) for name in models)


def affected_stacks(project: Path, stack: str, changed: list[str]) -> list[str]:
    """The stacks of `stack`'s fleet a preview of the `changed` paths must cover: the platform
    first when they can affect it, then the models stacks they can affect."""
    platform = [stack] if platform_affected(project, stack, changed) else []
    return platform + affected_models_stacks(project, stack, changed)


def fleet_plan(
    build: Path, platform: str, previewed: list[str], failed: bool, moves: list[Move]
) -> tuple[dict[str, Any] | None, list[str]]:
    """The manifest of the plans a fleet preview saved in `build` (`previewed`: the stacks
    previewed, the platform first) and the comment's lines saying what `make up PLAN=...` applies.
    No manifest when none of it may be approved: a stack's preview `failed` or left no plan that
    loads, a plan creates a provider, or models move between stacks first (`moves`)."""
    if failed:
        return None, ["**Fleet plan**: none to deploy (a stack's preview failed: see below).", ""]
    plans: dict[str, str] = {}
    problems: list[str] = []
    unbindable: list[str] = []
    for stack in previewed:
        try:
            plan = load_plan(stack_plan_path(build, stack))
        except PlanError as error:
            problems.append(str(error))
            continue
        plans[stack] = plan.digest
        unbindable += [
            f"`{stack}`: `{change.split(' ')[0].rsplit('::', 1)[-1]}`"
            for change in provider_changes(plan)
        ]
    if problems:
        return None, [
            "**Fleet plan**: none to deploy: a previewed stack saved no usable plan "
            f"({'; '.join(problems)}).",
            "",
        ]
    if moves:
        return None, [
            "**Fleet plan**: none to bind: models move between stacks (below), and these plans "
            "were made before the move, so `make up PLAN=...` refuses them; this change is "
            "deployed with `make up` after review.",
            "",
        ]
    if unbindable:
        return None, [
            "**Fleet plan** **cannot be bound**: a plan creates or replaces a provider "
            f"({'; '.join(unbindable)}), which pulumi 3.215 cannot apply under a plan; this "
            "change deploys unbound.",
            "",
        ]
    manifest = fleet_manifest(platform, plans)
    digest = fleet_digest(manifest)
    return manifest, [
        f"**Fleet plan** `{digest}`: `make up PLAN={stack_plan_path(Path('build'), platform)} "
        f"PLAN_DIGEST={digest}` applies exactly the plans of the {len(plans)} stacks previewed "
        f"below ({', '.join(f'`{s}`' for s in plans) or 'none'}), each checked against its "
        f"digest in `{fleet_manifest_path(Path('build'), platform)}`, and nothing else: a stack "
        "not previewed is not applied.",
        "",
    ]


def fleet_summary(
    build: Path,
    platform: str,
    previewed: list[str],
    stacks: list[str],
    moves: list[Move] | None = None,
    plan_lines: list[str] | None = None,
) -> tuple[str, bool]:
    """The PR comment of a preview of the `previewed` ones of `platform` and its models
    `stacks`: what `make up` applies (`plan_lines`, from fleet_plan), each previewed stack's
    summary under its own heading, and whether every one was there. A missing summary is said,
    never skipped: that stack's preview did not get as far as writing one. Stacks not previewed
    are named with why. Its first line is the platform's hidden marker: the one comment of the
    environment, which the deploy reads the fleet digest from."""
    every = [platform, *stacks]
    skipped = [stack for stack in every if stack not in previewed]
    previewed = [stack for stack in every if stack in previewed]
    parts = [
        marker(platform),
        f"# Preview of {platform} and its models stacks: {len(previewed)} previewed, "
        f"{len(skipped)} not affected",
        "",
        *(plan_lines or []),
        "| stack | preview |",
        "|---|---|",
    ]
    bodies = []
    complete = True
    for stack in previewed:
        path = build / f"preview-summary-{stack}.md"
        if path.is_file():
            parts.append(f"| `{stack}` | summary below |")
            bodies += ["", f"## Stack `{stack}`", "", path.read_text().strip()]
        else:
            complete = False
            parts.append(f"| `{stack}` | **failed: its preview wrote no summary** |")
    parts += [
        f"| `{stack}` | not previewed: nothing it is built from changed (commands/fleet.py) |"
        for stack in skipped
    ]
    if moves:
        parts += [
            "",
            "**Models moving between stacks.** `make up` moves their state first (`pulumi state "
            "move`, no object touched), so the deletes and creates previewed above for them do "
            "not happen:",
            "",
            *(
                f"- `{m.model}`: `{m.source}` -> `{m.dest}` ({len(m.urns)} resources)"
                for m in moves
            ),
        ]
    return "\n".join([*parts, *bodies]) + "\n", complete


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m commands.fleet", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("models-stacks").add_argument("stack")
    affected = commands.add_parser("affected")
    affected.add_argument("stack")
    affected.add_argument("since", nargs="?")
    move = commands.add_parser("move")
    move.add_argument("stack")
    move.add_argument("--dry-run", action="store_true")
    move.add_argument(
        "--refuse", action="store_true", help="fail, moving nothing, when a model would move"
    )
    summary = commands.add_parser("summary")
    summary.add_argument("stack")
    summary.add_argument("previewed", nargs="*")
    # Models move between stacks only when the stacks file changes: with the commit the preview
    # compares with, an unchanged file skips reading every stack's state for pending moves.
    summary.add_argument("--since")
    summary.add_argument(
        "--failed", action="store_true", help="a stack's preview failed: no plan to approve"
    )
    args = parser.parse_args(argv[1:])
    try:
        if args.command == "move" and args.refuse:
            pending = pending_moves(PROJECT, args.stack)
            if pending:
                print(move_refusal(pending), file=sys.stderr)
                return 1
            return 0
        if args.command == "move":
            move_models(PROJECT, args.stack, dry_run=args.dry_run)
            return 0
        stacks = models_stacks(PROJECT, args.stack)
        if args.command == "affected" and args.since is None:
            stacks = [args.stack, *stacks]
        elif args.command == "affected":
            stacks = affected_stacks(PROJECT, args.stack, changed_paths(PROJECT, args.since))
    except FleetStacksError as error:
        print(f"[fleet] {error}", file=sys.stderr)
        return 2
    if args.command in ("models-stacks", "affected"):
        print("\n".join(stacks))
        return 0
    unknown = [name for name in args.previewed if name not in [args.stack, *stacks]]
    if unknown:
        print(f"[fleet] not models stacks of {args.stack}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        file = str(fleet_stacks_path(PROJECT, args.stack).relative_to(PROJECT))
        unchanged = args.since is not None and file not in changed_paths(PROJECT, args.since)
        moves = [] if unchanged else pending_moves(PROJECT, args.stack)
    except FleetStacksError as error:
        print(f"[fleet] pending state moves unknown: {error}", file=sys.stderr)
        return 1
    every = [args.stack, *stacks]
    previewed = [stack for stack in every if stack in args.previewed]
    summaries = all((BUILD / f"preview-summary-{stack}.md").is_file() for stack in previewed)
    manifest, plan_lines = fleet_plan(
        BUILD, args.stack, previewed, args.failed or not summaries, moves
    )
    manifest_path = fleet_manifest_path(BUILD, args.stack)
    manifest_path.unlink(missing_ok=True)
    if manifest is not None:
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    text, complete = fleet_summary(BUILD, args.stack, args.previewed, stacks, moves, plan_lines)
    out = BUILD / f"preview-summary-{args.stack}-fleet.md"
    out.write_text(text)
    print(text)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
