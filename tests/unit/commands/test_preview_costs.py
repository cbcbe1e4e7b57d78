"""The price table and the GPU and cost figures of the preview summary on dev and prod, whose
node groups come from the real program run under Pulumi mocks (no AWS here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from commands.prices import PRICES_FILE, load_price_table
from commands.stack_state import model_tracks, node_groups, totals
from tests.support.mocks import RecordingMocks, run_program, stack_config

PRICES = load_price_table()


def test_the_price_table_names_its_source_region_and_date() -> None:
    assert PRICES.source.startswith("https://aws.amazon.com/ec2/pricing/")
    assert (PRICES.region, PRICES.currency) == ("us-east-1", "USD")
    assert "us-east-1 on-demand list prices in USD, recorded" in PRICES.label


def test_every_instance_type_of_the_aws_stacks_has_a_price() -> None:
    for stack in ("dev", "prod"):
        config = stack_config(stack)
        groups = [config["systemNodeGroup"], *config["gpuNodeGroups"]]
        for instance_type in (t for group in groups for t in group["instanceTypes"]):
            assert PRICES.instance_hourly(instance_type), (stack, instance_type)


def test_a_gpu_is_priced_at_the_cheapest_listed_instance_per_gpu() -> None:
    assert PRICES.gpu_hourly("t4") == ("g4dn.xlarge", PRICES.hourly["g4dn.xlarge"])
    # g5.12xlarge carries 4 A10G: its price per GPU is a quarter of its price.
    assert PRICES.gpu_hourly("a10g") == (
        "g5.xlarge",
        min(PRICES.hourly["g5.xlarge"], PRICES.hourly["g5.12xlarge"] / 4),
    )
    assert PRICES.gpu_hourly("h100") is None  # not in the table: no price, never 0


def test_a_price_for_an_instance_off_the_allow_lists_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load(PRICES_FILE.read_text())
    raw["hourly"]["x9.large"] = 1.0
    (tmp_path / "prices.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(
        ValidationError,
        match=r"x9\.large. is on neither the GPU nor the system instance allow-list",
    ):
        load_price_table(tmp_path / "prices.yaml")


def registered_inputs(mocks: RecordingMocks) -> dict[str, dict[str, Any]]:
    """Inputs of every resource the program registered, by URN, as the engine reports them."""
    return {mocks.registration(r).urn: dict(r.inputs) for r in mocks.resources}


@pytest.mark.parametrize(
    ("stack", "gpu_groups", "system"),
    [
        ("dev", [("g5.xlarge", 3)], ("m6i.large", 2)),
        ("prod", [("g6.xlarge", 4), ("g5.xlarge", 1)], ("m6i.xlarge", 3)),
    ],
)
def test_on_aws_capacity_and_cost_are_the_node_groups_at_desired_size(
    stack: str, gpu_groups: list[tuple[str, int]], system: tuple[str, int]
) -> None:
    resources = registered_inputs(run_program(stack_config(stack), stack=stack))
    groups = node_groups(resources)
    assert sorted((g.instance_type, g.desired) for g in groups) == sorted([*gpu_groups, system])

    figures = totals(resources, PRICES)
    assert figures.capacity_gpus == sum(n for _, n in gpu_groups)
    expected = sum(PRICES.hourly[t] * n for t, n in [*gpu_groups, system])
    assert figures.hourly_at_min == pytest.approx(expected)
    assert figures.unpriced == ()
    # digits asks one GPU per pod, 2 to 4 replicas; iris none.
    assert model_tracks(resources)["digits"]["stable"].gpus_per_pod == 1
    assert (figures.gpus_at_min, figures.gpus_at_max) == (2, 4)
