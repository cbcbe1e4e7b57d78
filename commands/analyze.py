"""`make analyze MODEL=<name>`: judge a model's canary by its SLOs and write the verdict as a
change to its model.yaml, for a PR (issue #17, item 3). Git stays the source of truth: nothing
here touches the cluster.

The canary and stable tracks are measured with the expressions the SLO alerts use
(components.monitoring.alerts.slo_measures), narrowed to one track and taken over `--window`
(default 30m) at `--at` (default now):
  * no verdict: the canary served fewer than `--min-requests` requests (default 1000) in the
    window; too little traffic to judge. Exit code 3, model.yaml unchanged.
  * revert: the canary's p99 latency or server-error ratio is above the spec's SLO: the canary
    goes (`serving.canary` removed), the active version stays. Exit code 0.
  * promote: both within the SLO: the canary's version becomes `serving.active` and the canary
    goes. Exit code 0.
Any other problem (no canary, Prometheus unreachable or refusing a query, a canary with requests
but no latency histogram) is exit code 1 and writes nothing. The stable track's numbers are
reported beside the canary's for the reviewer; the verdict is the canary's SLOs alone.

Prometheus: `--prometheus-url`, else the environment variable PROMETHEUS_URL, else the stack's
`autoscalingPrometheusUrl` (Pulumi.<stack>.yaml), the Prometheus KEDA queries, which holds the
same series; the first one set wins. The namespace of the series is the stack's modelsNamespace.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

from components.catalog.load import MAX_SPEC_BYTES, SPEC_FILE, parse_spec
from components.catalog.spec import ModelSpec, Serving
from components.facts.yaml_input import InputError, load_yaml, read_bounded
from components.monitoring.alerts import slo_measures
from components.monitoring.queries import request_count
from components.serving.builders import TrackName

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "gpu-model-platform"
DEFAULT_WINDOW = "30m"
DEFAULT_MIN_REQUESTS = 1000
EXIT_VERDICT = 0
EXIT_FAILURE = 1
EXIT_NO_VERDICT = 3
QUERY_TIMEOUT_SECONDS = 10
_WINDOW = re.compile(r"^[1-9][0-9]*[smhd]$")

Verdict = Literal["promote", "revert", "no verdict"]


class AnalyzeError(Exception):
    """Analysis cannot give a verdict; the message says why (and names the file or query)."""


@dataclass(frozen=True)
class TrackNumbers:
    requests: float
    p99_latency_ms: float | None
    """None when the track served no request in the window."""
    error_rate: float | None


@dataclass(frozen=True)
class Analysis:
    spec: ModelSpec
    window: str
    at: float
    min_requests: int
    tracks: dict[TrackName, TrackNumbers]
    verdict: Verdict
    reasons: list[str]


class Prometheus:
    """Instant queries over Prometheus' HTTP API; every failure is an AnalyzeError."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def vector(self, expression: str, at: float) -> list[float]:
        query = urllib.parse.urlencode({"query": expression, "time": f"{at:.3f}"})
        address = f"{self.url}/api/v1/query?{query}"
        try:
            with urllib.request.urlopen(address, timeout=QUERY_TIMEOUT_SECONDS) as reply:
                body = json.loads(reply.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            raise AnalyzeError(
                f"Prometheus at {self.url} refused {expression!r}: HTTP {error.code} {detail}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise AnalyzeError(f"Prometheus at {self.url} unreachable: {error}") from None
        if body.get("status") != "success" or body["data"]["resultType"] != "vector":
            raise AnalyzeError(f"Prometheus at {self.url} refused {expression!r}: {body}")
        return [float(sample["value"][1]) for sample in body["data"]["result"]]

    def scalar(self, expression: str, at: float) -> float | None:
        """The one value of an aggregated expression; None when it has no series."""
        values = self.vector(expression, at)
        if len(values) > 1:
            raise AnalyzeError(f"{expression!r} gave {len(values)} series, not one: {values}")
        return values[0] if values else None


def measure(
    prometheus: Prometheus,
    spec: ModelSpec,
    namespace: str,
    track: TrackName,
    window: str,
    at: float,
) -> TrackNumbers:
    requests = prometheus.scalar(request_count(spec, namespace, track, window), at) or 0.0
    if requests <= 0:
        return TrackNumbers(0.0, None, None)
    slo = slo_measures(spec, namespace, track=track, window=window)
    p99 = prometheus.scalar(slo.p99_latency_ms.expr, at)
    if p99 is None or math.isnan(p99):
        raise AnalyzeError(
            f"the {track} track served {requests:.0f} requests in {window} but has no latency "
            f"histogram to judge: is the ServiceMonitor scraping it? ({slo.p99_latency_ms.expr})"
        )
    # No series with a server-error status while requests were served: no server error.
    errors = prometheus.scalar(slo.error_rate.expr, at)
    return TrackNumbers(requests, p99, 0.0 if errors is None else errors)


def analyze(
    prometheus: Prometheus,
    spec: ModelSpec,
    namespace: str,
    window: str,
    at: float,
    min_requests: int,
) -> Analysis:
    tracks = {
        track: measure(prometheus, spec, namespace, track, window, at)
        for track in get_args(TrackName)
    }
    canary = tracks["canary"]
    reasons = []
    verdict: Verdict
    if canary.requests < min_requests:
        verdict = "no verdict"
        reasons.append(
            f"the canary served {canary.requests:.0f} requests in {window}, fewer than the "
            f"{min_requests} needed to judge it"
        )
    else:
        assert canary.p99_latency_ms is not None and canary.error_rate is not None
        if canary.p99_latency_ms > spec.slo.p99_latency_ms:
            reasons.append(
                f"p99 latency {canary.p99_latency_ms:.1f} ms is above the SLO of "
                f"{spec.slo.p99_latency_ms:g} ms"
            )
        if canary.error_rate > spec.slo.error_rate:
            reasons.append(
                f"server-error rate {canary.error_rate:.3%} is above the SLO of "
                f"{spec.slo.error_rate:.3%}"
            )
        verdict = "revert" if reasons else "promote"
        if not reasons:
            reasons.append("p99 latency and server-error rate within the SLO")
    return Analysis(spec, window, at, min_requests, dict(tracks), verdict, reasons)


def serving_after(spec: ModelSpec, verdict: Verdict) -> Serving:
    canary = spec.serving.canary
    assert canary is not None
    active = canary.version if verdict == "promote" else spec.serving.active
    return Serving(active=active, canary=None)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_content(line: str) -> bool:
    return bool(line.strip()) and not line.lstrip().startswith("#")


def edit_serving(text: str, active: int, source: str) -> str:
    """`text` with `serving.active` set to `active` and `serving.canary` removed, every other line
    as it was (comments, order, layout). Handles the block styles model.yaml is written in; any
    other layout is refused rather than guessed."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if re.match(r"^serving:\s*(#.*)?$", line)]
    if len(starts) != 1:
        raise AnalyzeError(f"{source}: serving: expected one block-style `serving:` mapping")
    start = starts[0]
    end = start + 1
    while end < len(lines) and (not _is_content(lines[end]) or _indent(lines[end]) > 0):
        end += 1
    children = [i for i in range(start + 1, end) if _is_content(lines[i])]
    if not children:
        raise AnalyzeError(f"{source}: serving: empty block")
    child_indent = _indent(lines[children[0]])
    keys = {
        match.group(1): i
        for i in children
        if _indent(lines[i]) == child_indent
        and (match := re.match(r"^\s*([A-Za-z_]+):", lines[i])) is not None
    }
    if "active" not in keys or "canary" not in keys:
        raise AnalyzeError(f"{source}: serving: expected `active:` and `canary:` lines in it")
    active_line = lines[keys["active"]]
    edited, count = re.subn(
        r"^(\s*active:\s*)[0-9]+(\s*(#.*)?)$", rf"\g<1>{active}\g<2>", active_line.rstrip("\n")
    )
    if count != 1:
        raise AnalyzeError(f"{source}: serving.active: not a plain number: {active_line.strip()}")
    lines[keys["active"]] = edited + ("\n" if active_line.endswith("\n") else "")
    canary_start = keys["canary"]
    canary_end = canary_start + 1
    while canary_end < end and (
        not _is_content(lines[canary_end]) or _indent(lines[canary_end]) > child_indent
    ):
        canary_end += 1
    # Blank lines and comments after the canary's own lines belong to what follows.
    while canary_end - 1 > canary_start and not _is_content(lines[canary_end - 1]):
        canary_end -= 1
    del lines[canary_start:canary_end]
    return "".join(lines)


def write_verdict(path: Path, spec: ModelSpec, verdict: Verdict, source: str) -> str | None:
    """The edited model.yaml text written to `path` (None for no verdict: nothing written). The
    result must parse to the same spec with only `serving` changed, or nothing is written."""
    if verdict == "no verdict":
        return None
    serving = serving_after(spec, verdict)
    text = edit_serving(read_bounded(path, MAX_SPEC_BYTES, source), serving.active, source)
    edited, problems = parse_spec(text, source)
    if edited is None:
        raise AnalyzeError(
            f"{source}: the edited file does not validate, left unchanged:\n  "
            + "\n  ".join(problems)
        )
    if edited != spec.model_copy(update={"serving": serving}):
        raise AnalyzeError(
            f"{source}: the edit changed more than serving (active {serving.active}, no canary); "
            "left unchanged"
        )
    path.write_text(text)
    return text


def _number(value: float | None, form: str) -> str:
    return "n/a" if value is None else format(value, form)


def report(analysis: Analysis, source: str, changed: bool) -> str:
    spec = analysis.spec
    canary = spec.serving.canary
    assert canary is not None
    at = datetime.fromtimestamp(analysis.at, tz=UTC).isoformat(timespec="seconds")
    headline = {
        "promote": f"promote version {canary.version} (active was {spec.serving.active})",
        "revert": f"revert canary version {canary.version} (active stays {spec.serving.active})",
        "no verdict": "no verdict (too little canary traffic); model.yaml unchanged",
    }[analysis.verdict]
    rows = [
        f"| {track} | {version} | {numbers.requests:.0f} "
        f"| {_number(numbers.p99_latency_ms, '.1f')} "
        f"| {'n/a' if numbers.error_rate is None else format(numbers.error_rate, '.3%')} |"
        for track, version, numbers in (
            ("canary", canary.version, analysis.tracks["canary"]),
            ("stable", spec.serving.active, analysis.tracks["stable"]),
        )
    ]
    lines = [
        f"## Canary analysis: {spec.name}: {headline}",
        "",
        f"Window {analysis.window} ending {at}; canary share {canary.percent}%; "
        f"at least {analysis.min_requests} canary requests needed.",
        "",
        "| track | version | requests | p99 latency (ms) | server-error rate |",
        "|---|---|---|---|---|",
        *rows,
        f"| **SLO** | | | {spec.slo.p99_latency_ms:g} | {spec.slo.error_rate:.3%} |",
        "",
        *(f"- {reason}" for reason in analysis.reasons),
    ]
    if changed:
        lines += [
            "",
            f"`{source}`: `serving.active: {serving_after(spec, analysis.verdict).active}`"
            ", `serving.canary` removed.",
        ]
    return "\n".join(lines) + "\n"


def stack_value(root: Path, stack: str, key: str) -> str:
    """A string config value of the stack: its Pulumi.<stack>.yaml, else Pulumi.yaml's default."""
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise AnalyzeError(f"{stack_file.name}: no such stack file (STACK={stack})")
    stack_config = load_yaml(stack_file.read_text(), stack_file.name) or {}
    value = (stack_config.get("config") or {}).get(f"{PROJECT}:{key}")
    if value is None:
        project = load_yaml((root / "Pulumi.yaml").read_text(), "Pulumi.yaml")
        value = project["config"][key]["default"]
    if not isinstance(value, str):
        raise AnalyzeError(f"{stack_file.name}: {PROJECT}:{key}: expected a string")
    return value


def prometheus_url(flag: str | None, root: Path, stack: str) -> str:
    url = (
        flag
        or os.environ.get("PROMETHEUS_URL")
        or stack_value(root, stack, "autoscalingPrometheusUrl")
    )
    if not url:
        raise AnalyzeError(
            "no Prometheus to ask: pass --prometheus-url, set PROMETHEUS_URL, or set the stack's "
            f"{PROJECT}:autoscalingPrometheusUrl in Pulumi.{stack}.yaml"
        )
    if not re.match(r"^https?://\S+$", url):
        raise AnalyzeError(f"Prometheus URL {url!r} is not http:// or https://")
    return url


def load_model(root: Path, model: str) -> tuple[Path, str, ModelSpec]:
    path = root / "models" / model / SPEC_FILE
    source = str(path.relative_to(root))
    if not path.is_file():
        raise AnalyzeError(f"{source}: no such file (MODEL={model})")
    spec, problems = parse_spec(read_bounded(path, MAX_SPEC_BYTES, source), source)
    if spec is None:
        raise AnalyzeError("\n".join(problems))
    if spec.serving.canary is None:
        raise AnalyzeError(
            f"{source}: serving.canary: not set, so there is no canary to analyze (serving.active "
            f"is {spec.serving.active})"
        )
    return path, source, spec


def main(argv: Sequence[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(prog="analyze", description=__doc__.partition("\n")[0])
    parser.add_argument("model", help="a folder under models/")
    parser.add_argument("--stack", default="local", help="whose namespace and Prometheus URL")
    parser.add_argument("--prometheus-url", help="wins over PROMETHEUS_URL and the stack's")
    parser.add_argument("--window", default=DEFAULT_WINDOW, help="e.g. 30m, 2h (default 30m)")
    parser.add_argument("--at", type=float, help="evaluation time, Unix seconds (default: now)")
    parser.add_argument("--min-requests", type=int, default=DEFAULT_MIN_REQUESTS)
    parser.add_argument(
        "--out", type=Path, help="the markdown verdict (default build/analyze-MODEL.md)"
    )
    args = parser.parse_args(argv)
    if not _WINDOW.match(args.window):
        parser.error(f"--window {args.window!r}: a Prometheus duration such as 30m or 2h")
    if args.min_requests < 1:
        parser.error("--min-requests: at least 1")
    try:
        path, source, spec = load_model(root, args.model)
        url = prometheus_url(args.prometheus_url, root, args.stack)
        namespace = stack_value(root, args.stack, "modelsNamespace")
        at = time.time() if args.at is None else args.at
        analysis = analyze(Prometheus(url), spec, namespace, args.window, at, args.min_requests)
        changed = write_verdict(path, spec, analysis.verdict, source) is not None
    except (AnalyzeError, InputError) as error:
        print(f"analyze: FAILED, no verdict written: {error}", file=sys.stderr)
        return EXIT_FAILURE
    text = report(analysis, source, changed)
    out = args.out or root / "build" / f"analyze-{spec.name}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text, end="")
    print(f"(written to {out})")
    return EXIT_NO_VERDICT if analysis.verdict == "no verdict" else EXIT_VERDICT


if __name__ == "__main__":
    sys.exit(main())
