"""components/facts/rollout.py: the GPUs a rollout needs at its peak, and the verdict on them."""

from __future__ import annotations

import pytest

from components.facts.rollout import REMEDY, ROLLING_UPDATE, RolloutNeed, surge_pods


@pytest.mark.parametrize(
    ("rolling_update", "replicas", "expected"),
    [
        (ROLLING_UPDATE["surge"], 2, 1),
        (ROLLING_UPDATE["replace"], 2, 0),
        ({"maxSurge": "25%"}, 2, 1),  # rounded up, as Kubernetes does
        ({"maxSurge": "50%"}, 5, 3),
        ({"maxSurge": "0%"}, 5, 0),
        ({}, 8, 2),  # Kubernetes' default 25%
        (None, 1, 1),
        ({"maxSurge": 3}, 1, 3),
        ({"maxSurge": 0.0}, 2, 0),  # as the engine hands it to a policy
    ],
)
def test_surge_pods(rolling_update: dict[str, object] | None, replicas: int, expected: int) -> None:
    assert surge_pods(rolling_update, replicas) == expected


def need(surge: int = 1, canary: int = 0, capacity: int | None = 2, held: int = 2) -> RolloutNeed:
    return RolloutNeed("digits", surge, canary, 1, capacity, held)


def test_a_surge_on_full_gpu_nodes_will_stall_and_names_the_remedy() -> None:
    full = need()
    assert (full.need, full.free, full.fits) == (1, 0, False)
    assert full.verdict() == (
        "will stall: needs 1 surge pod x 1 GPU = 1 GPU, 0 of 2 free (new pods stay Pending); "
        f"remedy: {REMEDY}"
    )
    assert "`rollout.strategy: replace`" in REMEDY


def test_a_surge_with_a_free_gpu_fits() -> None:
    assert need(capacity=3).verdict() == "fits: needs 1 surge pod x 1 GPU = 1 GPU, 1 of 3 free"


def test_canary_pods_add_to_the_surge() -> None:
    both = need(surge=1, canary=2, capacity=4)
    assert (both.need, both.fits) == (3, False)
    assert "1 surge pod + 2 canary pods x 1 GPU = 3 GPUs, 2 of 4 free" in both.verdict()


def test_replace_needs_nothing_free() -> None:
    replace = need(surge=0)
    assert replace.fits is True
    assert replace.verdict() == "fits: the rollout needs no GPU beyond what the model holds"


def test_unknown_capacity_says_what_is_known() -> None:
    unknown = need(capacity=None)
    assert unknown.fits is None
    assert unknown.verdict() == (
        "capacity unknown (no cluster or node groups to read): the rollout needs 1 GPU free "
        "beyond the 2 the models hold at min replicas"
    )


def test_more_held_than_capacity_leaves_nothing_free_not_a_negative() -> None:
    assert need(capacity=1, held=3).free == 0
