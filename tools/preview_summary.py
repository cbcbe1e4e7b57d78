"""Markdown summary of one preview, short enough for a pull request comment.

Reads the engine's event stream of one `pulumi preview` (tools.engine_events says how to get it)
and prints, in this order: what is replaced (downtime risk first), per model its version, canary,
replicas and GPUs before and after, the policy violations with their severity, the stack's GPUs
and estimated hourly cost before and after, and the raw diff folded away:

  python -m tools.preview_summary EVENTS.jsonl --stack local [--diff DIFF.txt] [--out FILE.md]
                                   [--fold-to-path]

Models are recognised by the labels components/serving.py puts on every object; GPUs are read
from the Deployments' requests, replicas from the autoscalers, capacity from EKS node groups.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.gpu import GPU_RESOURCE, GPU_TYPE_LABEL, gpus_per_instance
from components.gpu_prices import PriceTable, load_price_table
from components.serving import MODEL_LABEL, TRACK_LABEL, VERSION_LABEL
from tools import engine_events
from tools.engine_events import Step
from tools.policy_report import build_report

# GitHub refuses comments over 65536 characters; the rest of the margin is for the workflow's
# own lines around the summary.
MAX_CHARS = 60_000
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
AUTOSCALER = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def marker(stack: str) -> str:
    """Hidden first line of the comment: the workflow finds its own comment by it and edits it."""
    return f"<!-- gpu-model-platform preview: {stack} -->"


# --- what the stack runs, read from resource inputs ---------------------------------------------


@dataclass(frozen=True)
class TrackState:
    """One serving track of a model: its Deployment's version and GPUs, its autoscaler's bounds."""

    version: str | None = None
    gpus_per_pod: int = 0
    gpu_types: tuple[str, ...] = ()
    min_replicas: int = 0
    max_replicas: int = 0


def _labels(inputs: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = (inputs.get("metadata") or {}).get("labels") or {}
    return labels


def _pod_gpus(deployment: dict[str, Any]) -> tuple[int, tuple[str, ...]]:
    pod = deployment["spec"]["template"]["spec"]
    gpus = sum(
        int(((c.get("resources") or {}).get("limits") or {}).get(GPU_RESOURCE, 0))
        for c in pod.get("containers") or []
    )
    required = (pod.get("affinity") or {}).get("nodeAffinity", {})
    terms = (required.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms"
    ) or []
    types = {
        value
        for term in terms
        for expression in term.get("matchExpressions") or []
        if expression.get("key") == GPU_TYPE_LABEL
        for value in expression.get("values") or []
    }
    return gpus, tuple(sorted(types))


def model_tracks(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, TrackState]]:
    """Model name -> track name -> state, from the Deployments and autoscalers in `resources`."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for urn, inputs in resources.items():
        kind = urn.split("::")[-2].rsplit("$", 1)[-1]
        labels = _labels(inputs)
        model, track = labels.get(MODEL_LABEL), labels.get(TRACK_LABEL)
        if model is None or track is None or kind not in (DEPLOYMENT, AUTOSCALER):
            continue
        state = found.setdefault(model, {}).setdefault(track, {})
        if kind == DEPLOYMENT:
            state["version"] = labels.get(VERSION_LABEL)
            state["gpus_per_pod"], state["gpu_types"] = _pod_gpus(inputs)
        else:
            state["min_replicas"] = int(inputs["spec"].get("minReplicas", 1))
            state["max_replicas"] = int(inputs["spec"]["maxReplicas"])
    return {
        model: {name: TrackState(**fields) for name, fields in sorted(tracks.items())}
        for model, tracks in sorted(found.items())
    }


@dataclass(frozen=True)
class NodeGroupState:
    name: str
    instance_type: str
    """The first listed type: EKS launches on-demand nodes in the order the types are listed."""
    desired: int
    gpus_per_node: int


def node_groups(resources: dict[str, dict[str, Any]]) -> list[NodeGroupState]:
    """EKS managed node groups of the stack (dev, prod), from their inputs."""
    groups = []
    for urn, inputs in sorted(resources.items()):
        if urn.split("::")[-2].rsplit("$", 1)[-1] != NODE_GROUP:
            continue
        instance_type = (inputs.get("instanceTypes") or ["unknown"])[0]
        groups.append(
            NodeGroupState(
                name=urn.rsplit("::", 1)[-1],
                instance_type=instance_type,
                desired=int(inputs["scalingConfig"]["desiredSize"]),
                gpus_per_node=gpus_per_instance(instance_type),
            )
        )
    return groups


# --- totals and the cost estimate ----------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    gpus_at_min: int
    gpus_at_max: int
    capacity_gpus: int | None
    """GPUs of the node groups at their desired size; None on a stack without node groups."""
    hourly_at_min: float | None
    hourly_at_max: float | None
    """Estimated cost; on a stack with node groups both are the node groups' (what is billed)."""
    unpriced: tuple[str, ...]


def model_gpus(tracks: dict[str, TrackState], at: str) -> int:
    return sum(
        track.gpus_per_pod * (track.min_replicas if at == "min" else track.max_replicas)
        for track in tracks.values()
    )


def totals(resources: dict[str, dict[str, Any]], prices: PriceTable) -> Totals:
    models = model_tracks(resources)
    groups = node_groups(resources)
    unpriced: set[str] = set()
    at_min = sum(model_gpus(tracks, "min") for tracks in models.values())
    at_max = sum(model_gpus(tracks, "max") for tracks in models.values())
    if groups:
        hourly = 0.0
        for group in groups:
            price = prices.instance_hourly(group.instance_type)
            if price is None:
                unpriced.add(group.instance_type)
            else:
                hourly += group.desired * price
        capacity = sum(g.desired * g.gpus_per_node for g in groups)
        cost = None if unpriced else round(hourly, 4)
        return Totals(at_min, at_max, capacity, cost, cost, tuple(sorted(unpriced)))

    # No node groups (the local stack): price each requested GPU at the cheapest listed instance
    # of a GPU type its pod accepts.
    def pods_hourly(at: str) -> float | None:
        hourly = 0.0
        for tracks in models.values():
            for track in tracks.values():
                if not track.gpus_per_pod:
                    continue
                offers = [o for o in map(prices.gpu_hourly, track.gpu_types) if o]  # type: ignore[arg-type]
                if not offers:
                    unpriced.update(track.gpu_types or ("unknown GPU type",))
                    continue
                replicas = track.min_replicas if at == "min" else track.max_replicas
                hourly += track.gpus_per_pod * replicas * min(price for _, price in offers)
        return round(hourly, 4)

    cost_min, cost_max = pods_hourly("min"), pods_hourly("max")
    if unpriced:
        cost_min = cost_max = None
    return Totals(at_min, at_max, None, cost_min, cost_max, tuple(sorted(unpriced)))


# --- markdown ------------------------------------------------------------------------------------


def _change(before: object, after: object) -> str:
    return f"{before} → {after}" if before != after else f"{after}"


def _money(value: float | None) -> str:
    return "no price" if value is None else f"${value:,.2f}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _kind(step_type: str) -> str:
    return step_type.rsplit(":", 1)[-1]


def replacements(found: list[Step]) -> list[str]:
    """Replaced resources, each with whether it is gone before its replacement exists."""
    order: dict[str, list[str]] = {}
    for step in found:
        if step.op in ("create-replacement", "delete-replaced"):
            order.setdefault(step.urn, []).append(step.op)
    rows = []
    for step in found:
        if step.op != "replace":
            continue
        # The engine plans a delete-before-replace (an object with a fixed name whose immutable
        # field changed) as the delete first: nothing serves until the new one is ready.
        first = (order.get(step.urn) or ["create-replacement"])[0]
        deleted_first = first == "delete-replaced"
        risk = (
            "**deleted first: down until the new one is ready**"
            if deleted_first
            else "new one created first, then the old one deleted"
        )
        keys = ", ".join(f"`{k}`" for k in step.replace_keys) or "—"
        rows.append(f"| `{step.name}` | {_kind(step.type)} | {risk} | {_cell(keys)} |")
    rows.sort(key=lambda row: "deleted first" not in row)
    if not rows:
        return []
    return [
        "### Replacements (downtime risk)",
        "",
        "| resource | kind | order | forced by |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def _version(tracks: dict[str, TrackState]) -> str:
    stable = tracks.get("stable")
    return "—" if stable is None or stable.version is None else f"v{stable.version}"


def _canary(tracks: dict[str, TrackState]) -> str:
    canary, stable = tracks.get("canary"), tracks.get("stable")
    if canary is None:
        return "none"
    pods = canary.min_replicas + (stable.min_replicas if stable else 0)
    share = f"{round(100 * canary.min_replicas / pods)}%" if pods else "?"
    return f"v{canary.version} at {share}"


def _replicas(tracks: dict[str, TrackState]) -> str:
    return ", ".join(f"{n} {t.min_replicas}-{t.max_replicas}" for n, t in tracks.items()) or "—"


def _gpus_per_pod(tracks: dict[str, TrackState]) -> str:
    counts = sorted({t.gpus_per_pod for t in tracks.values()})
    return "/".join(map(str, counts)) or "—"


def _model_gpus(tracks: dict[str, TrackState]) -> str:
    return f"{model_gpus(tracks, 'min')} / {model_gpus(tracks, 'max')}" if tracks else "—"


def _version_change(before: dict[str, TrackState], after: dict[str, TrackState]) -> str:
    old, new = _version(before), _version(after)
    if old == new or "—" in (old, new):
        return new if new != "—" else old
    rollback = int(new[1:]) < int(old[1:])
    return f"{old} → {new}" + (" (rollback)" if rollback else "")


def models_section(
    found: list[Step],
    before: dict[str, dict[str, TrackState]],
    after: dict[str, dict[str, TrackState]],
) -> list[str]:
    touched = set()
    for step in found:
        if step.op == "same":
            continue
        for inputs in (step.old, step.new):
            model = _labels(inputs or {}).get(MODEL_LABEL)
            if model:
                touched.add(model)
    if not touched:
        return []
    rows = []
    for model in sorted(touched):
        old, new = before.get(model, {}), after.get(model, {})
        status = "new" if not old else "removed" if not new else "changed"
        cells = [f"**{model}**", status, _version_change(old, new)]
        for show in (_canary, _replicas, _gpus_per_pod, _model_gpus):
            cells.append(_change(show(old), show(new)) if old and new else show(new or old))
        rows.append("| " + " | ".join(cells) + " |")
    return [
        "### Models",
        "",
        "| model | change | version | canary | replicas (min-max per track) | GPUs per pod "
        "| GPUs at min / max replicas |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def policy_section(events: list[dict[str, Any]], stack: str) -> list[str]:
    report = build_report(events, stack)
    if not report["packs"]:
        return ["### Policies", "", "No policy pack ran in this preview.", ""]
    violations = report["violations"]
    packs = ", ".join(f"{name}@{version}" for name, version in report["packs"].items())
    if not violations:
        return [
            "### Policies",
            "",
            f"No violations ({packs}, {len(report['policies'])} policies).",
            "",
        ]
    rank = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    rows = [
        f"| {v['severity']} | {v['enforcement']} | `{v['policy']}` | "
        f"`{(v['resource'] or 'stack').rsplit('::', 1)[-1]}` | {_cell(v['message'])} |"
        for v in sorted(violations, key=lambda v: (rank.get(v["severity"], 9), v["policy"]))
    ]
    verdict = (
        f"**{report['mandatoryViolations']} mandatory** (the preview fails, `up` would stop)"
        if report["mandatoryViolations"]
        else "none mandatory"
    )
    return [
        "### Policy violations",
        "",
        f"{len(violations)} violation{'s' if len(violations) > 1 else ''}, {verdict}; {packs}.",
        "",
        "| severity | enforcement | policy | resource | finding |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]


def cost_section(old: Totals, new: Totals, prices: PriceTable) -> list[str]:
    rows = [
        f"| GPUs requested by model pods at min replicas (always running) "
        f"| {old.gpus_at_min} | {new.gpus_at_min} |",
        f"| GPUs requested at max replicas (autoscaler ceiling) "
        f"| {old.gpus_at_max} | {new.gpus_at_max} |",
    ]
    if new.capacity_gpus is not None or old.capacity_gpus is not None:
        rows += [
            f"| GPU capacity of the node groups at desired size "
            f"| {old.capacity_gpus or 0} | {new.capacity_gpus or 0} |",
            f"| Estimated $/hour of the node groups at desired size "
            f"| {_money(old.hourly_at_min)} | {_money(new.hourly_at_min)} |",
        ]
        basis = "every node group at its desired size, first listed instance type"
    else:
        rows += [
            f"| Estimated $/hour of those GPUs at min replicas "
            f"| {_money(old.hourly_at_min)} | {_money(new.hourly_at_min)} |",
            f"| Estimated $/hour at max replicas "
            f"| {_money(old.hourly_at_max)} | {_money(new.hourly_at_max)} |",
        ]
        basis = (
            "each requested GPU at the cheapest listed per-GPU price of a GPU type its pod "
            "accepts; CPU pods and nodes not counted"
        )
    unpriced = sorted({*old.unpriced, *new.unpriced})
    note = f" No price for: {', '.join(unpriced)}." if unpriced else ""
    return [
        "### GPUs and estimated cost",
        "",
        "| | before | after |",
        "|---|---|---|",
        *rows,
        "",
        f"_Estimate only: {basis}; {prices.label} (components/gpu_prices.yaml).{note}_",
        "",
    ]


def folded_diff(diff: str, room: int) -> list[str]:
    """The raw diff in a <details> block, cut to `room` characters with a note when longer."""
    text = ANSI.sub("", diff).rstrip()
    if not text:
        return []
    lines = text.splitlines()
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > room:
            break
        kept.append(line)
        size += len(line) + 1
    cut = len(lines) - len(kept)
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    out = [
        f"<details><summary>Raw diff (pulumi preview --diff, {len(lines)} lines)</summary>",
        "",
        fence,
        *kept,
        fence,
    ]
    if cut:
        out.append(f"_{cut} more lines cut to fit a comment; the full diff is in the job log._")
    return [*out, "", "</details>"]


def _headline(stack: str, counts: dict[str, int], failed: bool) -> str:
    changes = [f"{n} to {op}" for op, n in counts.items() if op != "same" and n]
    said = ", ".join(changes) if changes else "no changes"
    unchanged = counts.get("same", 0)
    if unchanged:
        said += f" ({unchanged} unchanged)"
    return (
        f"## Preview of `{stack}` failed: {said} planned"
        if failed
        else (f"## Preview of `{stack}`: {said}")
    )


def render(
    events: list[dict[str, Any]],
    stack: str,
    diff: str = "",
    prices: PriceTable | None = None,
) -> str:
    prices = prices or load_price_table()
    found = engine_events.steps(events)
    before, after = engine_events.states(found)
    failures = engine_events.errors(events)
    if not events:
        failures = ["the engine reported no events: see the raw output below"]
    counts = engine_events.change_counts(events)
    lines = [marker(stack), _headline(stack, counts, bool(failures)), ""]
    if failures:
        lines += ["### Preview failed", "", "```", *_clip(failures, 4000), "```", ""]
    lines += replacements(found)
    lines += models_section(found, model_tracks(before), model_tracks(after))
    lines += policy_section(events, stack)
    if found:
        lines += cost_section(totals(before, prices), totals(after, prices), prices)
    body = "\n".join(lines)
    tail = folded_diff(diff, MAX_CHARS - len(body) - 400)
    return "\n".join([*lines, *tail]).rstrip() + "\n"


def _clip(messages: Iterable[str], limit: int) -> list[str]:
    text = ANSI.sub("", "\n".join(messages))
    return (text[:limit] + "\n…" if len(text) > limit else text).splitlines()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", type=Path, help="the preview's engine events (JSON lines)")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--diff", type=Path, help="output of `pulumi preview --diff`, to fold in")
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    parser.add_argument(
        "--fold-to-path",
        action="store_true",
        help="print the raw diff's path instead of the diff (a terminal has no <details>)",
    )
    args = parser.parse_args(argv)
    try:
        # No file: the CLI stopped before the engine ran; render says so, with the CLI's output.
        text = args.events.read_text() if args.events.exists() else ""
        events = engine_events.read_events(text.splitlines())
    except engine_events.NotAnEventStream as error:
        print(f"preview_summary: {args.events}: {error}", file=sys.stderr)
        return 2
    diff = args.diff.read_text() if args.diff and args.diff.exists() else ""
    markdown = render(events, args.stack, diff)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown)
    if args.fold_to_path and diff:
        markdown = markdown.split("<details>", 1)[0] + f"Raw diff: {args.diff}\n"
    print(markdown, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
