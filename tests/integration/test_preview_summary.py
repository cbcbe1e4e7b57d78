"""The preview summary on real engine output: one deployed `local` stack, then one edit per change
kind, each previewed once (with the policy pack, as `make preview` runs it) and summarised."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from commands.engine_events import NotAnEventStream, read_events
from commands.pr_comment import marker
from commands.preview_summary import render
from commands.prices import load_price_table
from tests.support.engine import ROOT, LocalStack, copy_model, copy_repository, edit_spec, run_make
from tests.support.mocks import record_gate

pytestmark = pytest.mark.engine

PACK = (
    "--policy-pack",
    str(ROOT / "policies"),
    "--policy-pack-config",
    str(ROOT / "policies" / "config" / "local.json"),
)
PRICES = load_price_table()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> LocalStack:
    stack = LocalStack.create(tmp_path_factory.mktemp("summary"))
    stack.up()
    return stack


@pytest.fixture
def stack(baseline: LocalStack) -> Iterator[LocalStack]:
    """The deployed stack; each test's edits to its program are undone after the test."""
    yield baseline
    baseline.restore_program()


def summarise(stack: LocalStack) -> tuple[str, int]:
    events, diff, status = stack.preview_events(*PACK)
    assert events, diff
    return render(events, "local", diff, PRICES), status


def section(markdown: str, title: str) -> str:
    """The lines of one `### title` section."""
    match = re.search(
        rf"^### {re.escape(title)}\n(.*?)(?=^### |^<details>|\Z)", markdown, re.M | re.S
    )
    assert match, f"no section {title!r} in:\n{markdown}"
    return match.group(1)


def model_row(markdown: str, model: str) -> list[str]:
    for line in section(markdown, "Models").splitlines():
        if line.startswith(f"| **{model}** |"):
            return [cell.strip() for cell in line.strip("|").split("|")]
    raise AssertionError(f"no row for {model} in:\n{markdown}")


def cost_rows(markdown: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in section(markdown, "GPUs and estimated cost").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] and not cells[0].startswith("---"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


# Per GPU-hour: digits accepts t4, a10g and l4 (t4 is cheapest, on g4dn.xlarge); l4 on g6.xlarge.
T4 = PRICES.hourly["g4dn.xlarge"]
L4 = PRICES.hourly["g6.xlarge"]


def money(value: float) -> str:
    return f"${value:,.2f}"


def test_a_new_model_is_a_new_row_and_its_gpus_add_to_the_stack(stack: LocalStack) -> None:
    copy_model(stack, "digits", "digits-large")
    markdown, status = summarise(stack)
    assert status == 0, markdown
    assert markdown.startswith(marker("local") + "\n## Preview of `local`: ")
    assert model_row(markdown, "digits-large") == [
        "**digits-large**",
        "new",
        "v1",
        "none",
        "stable 2-4",
        "requests: 50 requests/s per replica (KEDA)",
        "1",
        "2 / 4",
        # tests.support.mocks.STARTUP: 0.7 s measured, plus the GPU allowance of 60 s.
        "stable 65 s",
    ]
    # Nothing of the shipped models changed: they get no row.
    assert "| **digits** |" not in markdown and "| **iris** |" not in markdown
    assert cost_rows(markdown)["GPUs requested by model pods at min replicas (always running)"] == (
        "2",
        "4",
    )
    assert cost_rows(markdown)["Estimated $/hour of those GPUs at min replicas"] == (
        money(2 * T4),
        money(4 * T4),
    )
    assert "Replacements" not in markdown
    assert "No violations" in section(markdown, "Policies")


def test_a_version_bump_shows_the_new_version_and_rolls_the_config(stack: LocalStack) -> None:
    digits = stack.project / "models" / "digits"
    shutil.copytree(digits / "savedmodel" / "1", digits / "savedmodel" / "2")
    spec = yaml.safe_load((digits / "model.yaml").read_text())
    edit_spec(
        stack,
        "digits",
        versions=[*spec["versions"], {"id": 2, "train": spec["versions"][0]["train"]}],
        serving={"active": 2},
    )
    record_gate(digits, 2, passed=True)
    markdown, status = summarise(stack)
    assert status == 0, markdown
    row = model_row(markdown, "digits")
    assert row[:4] == ["**digits**", "changed", "v1 → v2", "none"], row
    # The ConfigMap holds every version's config: it is replaced, the new one created first.
    replaced = section(markdown, "Replacements (downtime risk)")
    assert "| `digits-tfserving` | ConfigMap | new one created first" in replaced, replaced


def test_a_canary_shows_its_version_share_and_split_replicas(stack: LocalStack) -> None:
    edit_spec(stack, "iris", serving={"active": 2, "canary": {"version": 1, "percent": 50}})
    # Both shipped iris versions load and warm up within one 5 s probe period (models/iris/gate).
    iris_ready = 5
    markdown, status = summarise(stack)
    assert status == 0, markdown
    assert model_row(markdown, "iris") == [
        "**iris**",
        "changed",
        "v2",
        "none → v1 at 50%",
        "stable 2-6 → canary 1-3, stable 1-3",
        "cpu: 70% of requests (HPA)",
        "0",
        "0 / 0",
        f"stable {iris_ready} s → canary {iris_ready} s, stable {iris_ready} s",
    ]


def test_a_model_moving_to_gpus_raises_the_stacks_gpus_and_cost(stack: LocalStack) -> None:
    spec = yaml.safe_load((stack.project / "models/iris/model.yaml").read_text())
    # At most 4 replicas: with digits' 4, the stack's peak stays within local's budget of 8 GPUs.
    edit_spec(
        stack,
        "iris",
        resources={**spec["resources"], "gpus": 1, "gpu_types": ["l4"]},
        replicas={"min": 2, "max": 4},
    )
    markdown, status = summarise(stack)
    assert status == 0, markdown
    row = model_row(markdown, "iris")
    # On GPUs the CUDA allowance comes on top of iris v2's measured load and warmup.
    assert row[4:] == [
        "stable 2-6 → stable 2-4",
        "cpu: 70% of requests (HPA)",
        "0 → 1",
        "0 / 0 → 2 / 4",
        "stable 5 s → stable 65 s",
    ], row
    costs = cost_rows(markdown)
    assert costs["GPUs requested by model pods at min replicas (always running)"] == ("2", "4")
    assert costs["GPUs requested at max replicas (autoscaler ceiling)"] == ("4", "8")
    assert costs["Estimated $/hour of those GPUs at min replicas"] == (
        money(2 * T4),
        money(2 * T4 + 2 * L4),
    )
    assert costs["Estimated $/hour at max replicas"] == (money(4 * T4), money(4 * T4 + 4 * L4))
    assert "Estimate only" in markdown and "commands/gpu_prices.yaml" in markdown


def test_a_replacement_is_listed_first_with_its_downtime_risk(stack: LocalStack) -> None:
    """A Deployment's selector is immutable: a code change to it replaces the Deployment, and
    since its name is fixed, the old one is deleted before the new one exists."""
    serving = stack.project / "components" / "serving" / "builders.py"
    source = serving.read_text()
    selector = "return {labels.MODEL_LABEL: spec.name, labels.TRACK_LABEL: track}"
    assert selector in source
    serving.write_text(source.replace(selector, selector[:-1] + ', "tier": "x"}'))
    markdown, status = summarise(stack)
    assert status == 0, markdown
    assert markdown.index("### Replacements") < markdown.index("### Models")
    replaced = section(markdown, "Replacements (downtime risk)")
    for model in ("digits", "iris"):
        assert (
            f"| `{model}-stable` | Deployment | **deleted first: down until the new one is ready** "
            "| `spec.selector.matchLabels.tier` |"
        ) in replaced, replaced
    assert "2 to replace" in markdown.splitlines()[1]


def test_a_policy_violation_is_listed_with_its_severity(stack: LocalStack) -> None:
    resources = yaml.safe_load((ROOT / "models/digits/model.yaml").read_text())["resources"]
    copy_model(stack, "digits", "greedy", resources={**resources, "memory": "128Gi"})
    markdown, status = summarise(stack)
    assert status != 0, "a mandatory violation fails the preview"
    # The copy brings as many resources as the model it copies; everything deployed is unchanged.
    deployed = stack.resource_urns()
    per_model = sum(urn.rsplit("::", 1)[1].startswith("digits") for urn in deployed)
    # And the gated-image policy's allow-list gains the copy's images: one update.
    headline = f"failed: {per_model} to create, 1 to update ({len(deployed) - 1} unchanged) planned"
    assert markdown.splitlines()[1] == f"## Preview of `local` {headline}"
    assert "preview failed" in section(markdown, "Preview failed")
    violations = section(markdown, "Policy violations")
    assert "1 violation, **1 mandatory**" in violations
    assert (
        "| high | mandatory | `container-resources` | `greedy-stable` | greedy-stable/tfserving: "
        "memory limit 128Gi is over the ceiling 64Gi |"
    ) in violations, violations
    assert model_row(markdown, "greedy")[1] == "new"


def test_a_long_diff_is_cut_to_fit_a_pull_request_comment(stack: LocalStack) -> None:
    copy_model(stack, "digits", "digits-large")
    events, diff, _ = stack.preview_events(*PACK)
    # The same real diff forty times over: far past GitHub's 65536-character comment limit.
    markdown = render(events, "local", diff * 40, PRICES)
    assert len(diff * 40) > 65536
    assert len(markdown) <= 65536
    assert "more lines cut to fit a comment" in markdown
    assert markdown.rstrip().endswith("</details>")
    assert markdown.index("### GPUs and estimated cost") < markdown.index("<details>")


def test_the_plain_json_digest_is_refused_with_what_to_run(stack: LocalStack) -> None:
    digest = stack.preview("--json").stdout
    with pytest.raises(NotAnEventStream, match="--event-log"):
        read_events(digest.splitlines())


def test_make_preview_prints_the_summary_from_one_engine_run(tmp_path: Path) -> None:
    clone = copy_repository(tmp_path / "clone")
    result = run_make(clone, "preview", "STACK=local")
    assert result.returncode == 0, result.stdout + result.stderr
    # The summary's count, from the event stream, is the CLI's own count in the diff people read.
    diff = (clone / "build" / "preview-local.diff").read_text()
    created = re.search(r"^Resources:\n +\+ (\d+) to create$", diff, re.M)
    assert created, diff
    assert f"## Preview of `local`: {created.group(1)} to create\n" in result.stdout, result.stdout
    # digits v1 loads and warms up within a probe period, plus the 60 s GPU allowance.
    assert (
        "| **digits** | new | v1 | none | stable 2-4 | requests: 50 requests/s per replica (KEDA) "
        "| 1 | 2 / 4 | stable 65 s |"
    ) in result.stdout
    assert "Raw diff: build/preview-local.diff" in result.stdout
    # A new stack's plan creates its Kubernetes provider, which pulumi 3.215 cannot apply under a
    # plan (commands/plan_binding.py): the summary says so rather than offering it for binding.
    assert re.search(
        r"\*\*Update plan\*\* `sha256:[0-9a-f]{64}` \*\*cannot be bound\*\*: it creates or "
        r"replaces a provider \(`local-kubernetes`\)",
        result.stdout,
    ), result.stdout
    build = clone / "build"
    written = (build / "preview-summary-local.md").read_text()
    assert written.startswith(marker("local")) and "<details>" in written
    assert (build / "policy-report-local.json").is_file()
