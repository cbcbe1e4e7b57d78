"""Markdown summary of one preview, short enough for a pull request comment.

Reads the engine's event stream of one `pulumi preview` (commands.engine_events says how to get it)
and prints, in this order: what is replaced (downtime risk first), per model its version, canary,
replicas and GPUs before and after, the policy violations with their severity, the stack's GPUs
and estimated hourly cost before and after, and the raw diff folded away:

  python -m commands.preview_summary EVENTS.jsonl --stack local [--diff DIFF.txt] [--out FILE.md]
                                   [--fold-to-path] [--plan PLAN.json]

This module is the comment's frame: its hidden marker, headline, engine failures and the folded
diff, within GitHub's size limit. What the stack holds before and after is read by
commands.stack_state; the sections about what changes are drawn by commands.summary_sections.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from commands import engine_events
from commands.plan_binding import PlanError, load_plan, provider_changes
from commands.pr_comment import marker
from commands.prices import PriceTable, load_price_table
from commands.rollout_section import rollout_section
from commands.stack_state import model_tracks, totals
from commands.summary_sections import (
    cost_section,
    drift_section,
    models_section,
    policy_section,
    replacements,
)

# GitHub refuses comments over 65536 characters; the rest of the margin is for the workflow's
# own lines around the summary.
MAX_CHARS = 60_000
ANSI = re.compile(r"\x1b\[[0-9;]*m")


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


def cli_errors(output: str) -> list[str]:
    """The error lines of the CLI's own output (`error: ...`), without terminal colours."""
    return [
        line.strip()
        for line in ANSI.sub("", output).splitlines()
        if line.strip().startswith("error:")
    ]


def plan_lines(plan_digest: str | None, failed: bool, unbindable: list[str]) -> list[str]:
    """Which update plan this preview saved: `make up PLAN=...` applies that plan or nothing."""
    if failed:
        return ["**Update plan**: none to deploy (the preview failed).", ""]
    if not plan_digest:
        return ["**Update plan**: none saved, so the deploy has nothing to apply.", ""]
    if unbindable:
        names = ", ".join("`" + u.split(" ")[0].rsplit("::", 1)[-1] + "`" for u in unbindable)
        return [
            f"**Update plan** `{plan_digest}` **cannot be bound**: it creates or replaces a "
            f"provider ({names}), "
            "which pulumi 3.215 cannot apply under a plan; this change deploys unbound.",
            "",
        ]
    return [
        f"**Update plan** `{plan_digest}`: the deploy applies this plan and refuses anything "
        "beyond it (`make up PLAN=...`).",
        "",
    ]


def render(
    events: list[dict[str, Any]],
    stack: str,
    diff: str = "",
    prices: PriceTable | None = None,
    plan_digest: str | None = None,
    unbindable: list[str] | None = None,
    gpu_capacity: int | None = None,
) -> str:
    """The summary; `plan_digest` is the saved plan's digest, "" when none was saved, None when
    the preview was not asked for one; `unbindable` the providers the plan creates or replaces;
    `gpu_capacity` the GPUs rollouts may use where the stack has no node groups (None: unknown)."""
    prices = prices or load_price_table()
    found = engine_events.steps(events)
    before, after = engine_events.states(found)
    failures = engine_events.errors(events)
    if not events:
        # The CLI stopped before the engine ran (bad stack file, config of the wrong type, a
        # policy pack that would not load): nothing was planned, and its own words say why.
        failures = cli_errors(diff) or ["the engine reported no events: see the raw output below"]
    counts = engine_events.change_counts(events)
    headline = (
        f"## Preview of `{stack}` failed before the engine ran: nothing was planned"
        if not events
        else _headline(stack, counts, bool(failures))
    )
    lines = [marker(stack), headline, ""]
    if plan_digest is not None:
        lines += plan_lines(plan_digest, bool(failures), unbindable or [])
    if failures:
        lines += ["### Preview failed", "", "```", *_clip(failures, 4000), "```", ""]
    lines += drift_section(found)
    lines += replacements(found)
    tracks_before, tracks_after = model_tracks(before), model_tracks(after)
    lines += models_section(found, tracks_before, tracks_after)
    lines += rollout_section(found, tracks_before, tracks_after, after, gpu_capacity)
    lines += policy_section(events, stack)
    if found:
        lines += cost_section(totals(before, prices), totals(after, prices), prices)
    body = "\n".join(lines)
    tail = folded_diff(diff, MAX_CHARS - len(body) - 400)
    return "\n".join([*lines, *tail]).rstrip() + "\n"


def _clip(messages: Iterable[str], limit: int) -> list[str]:
    text = ANSI.sub("", "\n".join(messages))
    return (text[:limit] + "\n…" if len(text) > limit else text).splitlines()


def configured_capacity(policy_config: Path | None) -> int | None:
    """rollout-feasibility's gpuCapacity in the stack's policy config; None when unset, -1 (its
    default: not known), or not readable as such: policies/config_check.py reports a bad config
    file before the engine runs, and the summary of that failed run must still be written."""
    if policy_config is None or not policy_config.is_file():
        return None
    try:
        settings = json.loads(policy_config.read_text()).get("rollout-feasibility") or {}
        value = int(settings.get("gpuCapacity", -1))
    except (ValueError, TypeError, AttributeError):
        return None
    return value if value >= 0 else None


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
    parser.add_argument(
        "--plan", type=Path, help="the update plan the preview saved (--save-plan): its digest"
    )
    parser.add_argument(
        "--policy-config",
        type=Path,
        help="the stack's policy config: rollout-feasibility's gpuCapacity, for the rollouts",
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
    # "" when the preview was asked to save a plan and saved none.
    plan_digest, unbindable = None, []
    if args.plan:
        plan_digest = ""
        if args.plan.is_file():
            try:
                plan = load_plan(args.plan)
            except PlanError as error:
                print(f"preview_summary: {error}", file=sys.stderr)
                return 2
            plan_digest, unbindable = plan.digest, provider_changes(plan)
    gpu_capacity = configured_capacity(args.policy_config)
    markdown = render(
        events,
        args.stack,
        diff,
        plan_digest=plan_digest,
        unbindable=unbindable,
        gpu_capacity=gpu_capacity,
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown)
    if args.fold_to_path and diff:
        markdown = markdown.split("<details>", 1)[0] + f"Raw diff: {args.diff}\n"
    print(markdown, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
