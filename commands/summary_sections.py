"""The sections of the preview summary that say what changes: replacements, models, policy
violations, GPUs and cost. Each returns its markdown lines, or none when it has nothing to say.
"""

from __future__ import annotations

from typing import Any

from commands.engine_events import Step
from commands.policy_report import build_report
from commands.prices import PriceTable
from commands.stack_state import Totals, TrackState, labels_of, model_gpus
from components.facts.labels import MODEL_LABEL
from components.serving.startup import GPU_INIT_ALLOWANCE_SECONDS, STARTUP_PROBE_PERIOD_SECONDS


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


_SETTLED = ("same", "refresh", "read")
_DRIFT_WORDS = {
    "create": "**missing**: deleted out of band; `make up` creates it again",
    "delete": "in the cluster but no longer in the code; `make up` deletes it",
    "replace": "changed out of band in a field that forces a replacement",
}


def _object_name(step: Step) -> str:
    inputs = step.new or step.old or {}
    found = inputs.get("metadata")
    metadata: dict[str, Any] = found if isinstance(found, dict) else {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not name:
        return step.name
    return f"{namespace}/{name}" if namespace else str(name)


def drift_section(found: list[Step]) -> list[str]:
    """After a refresh (`make drift`): each object that differs from the code and how, a deleted
    one as missing; empty when the preview did not refresh."""
    if not any(step.op == "refresh" for step in found):
        return []
    rows = []
    for step in found:
        if step.op in _SETTLED or step.op in ("create-replacement", "delete-replaced"):
            continue
        if step.op == "update":
            fields = ", ".join(f"`{field}`" for field in step.changed) or "—"
            how = f"changed out of band: {fields}; `make up` sets it back"
        else:
            how = _DRIFT_WORDS.get(step.op, step.op)
        rows.append(f"| {_kind(step.type)} | `{_object_name(step)}` | {_cell(how)} |")
    if not rows:
        return ["### Drift", "", "No drift: refreshed from the cluster, every object matches.", ""]
    return [
        "### Drift",
        "",
        f"Refreshed from the cluster, {len(rows)} objects differ from the code:",
        "",
        "| kind | object | drift |",
        "|---|---|---|",
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


def _signal(tracks: dict[str, TrackState]) -> str:
    signals = sorted({t.signal for t in tracks.values()})
    return "; ".join(signals) or "—"


def _gpus_per_pod(tracks: dict[str, TrackState]) -> str:
    counts = sorted({t.gpus_per_pod for t in tracks.values()})
    return "/".join(map(str, counts)) or "—"


def _model_gpus(tracks: dict[str, TrackState]) -> str:
    return f"{model_gpus(tracks, 'min')} / {model_gpus(tracks, 'max')}" if tracks else "—"


def _first_ready(tracks: dict[str, TrackState]) -> str:
    shown = [
        f"{name} {track.expected_ready_seconds} s"
        for name, track in tracks.items()
        if track.expected_ready_seconds is not None
    ]
    return ", ".join(shown) or "—"


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
            model = labels_of(inputs or {}).get(MODEL_LABEL)
            if model:
                touched.add(model)
    if not touched:
        return []
    rows = []
    for model in sorted(touched):
        old, new = before.get(model, {}), after.get(model, {})
        status = "new" if not old else "removed" if not new else "changed"
        cells = [f"**{model}**", status, _version_change(old, new)]
        for show in (_canary, _replicas, _signal, _gpus_per_pod, _model_gpus, _first_ready):
            cells.append(_change(show(old), show(new)) if old and new else show(new or old))
        rows.append("| " + " | ".join(cells) + " |")
    notes = [cold_start(model, after[model]) for model in sorted(touched) if model in after]
    return [
        "### Models",
        "",
        "| model | change | version | canary | replicas (min-max per track) | scales on (target) "
        "| GPUs per pod | GPUs at min / max replicas | expected first ready replica |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        *[line for note in notes if note for line in (note, "")],
        "_Expected first ready replica: seconds from container start to the version loaded and "
        "warm, from the load and warmup times its gate measured on CPU (plus "
        f"{GPU_INIT_ALLOWANCE_SECONDS} s allowed for CUDA initialisation on GPU models, not "
        f"measured), in whole {STARTUP_PROBE_PERIOD_SECONDS} s startup-probe periods; scheduling "
        "and image pull come on top (components/serving/startup.py)._",
        "",
    ]


def cold_start(model: str, tracks: dict[str, TrackState]) -> str | None:
    """What scaling to zero costs, in words, for a model whose tracks may reach zero."""
    zero = [t for t in tracks.values() if t.min_replicas == 0 and t.max_replicas]
    if not zero:
        return None
    track = zero[0]
    gpus = f", freeing {track.gpus_per_pod} GPU(s) a pod" if track.gpus_per_pod else ""
    node = "on a node with a free GPU" if track.gpus_per_pod else "on a node with room"
    return (
        f"_**{model}** scales to zero: {track.cooldown_seconds} s after its wake signal "
        f"({track.wake or 'none set'}) drops, its last pod stops{gpus}. The next requests find no "
        f"pod and fail until the signal rises again; then one pod starts, {node}, and serves "
        "once its image is pulled and the SavedModel loaded (its startup probe allows up to "
        f"{track.startup_seconds} s), so callers must retry or tolerate a cold start of minutes._"
    )


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
        f"_Estimate only: {basis}; {prices.label} (commands/gpu_prices.yaml).{note}_",
        "",
    ]
