"""Arithmetic the benchmarks share: medians and spreads as the tables print them, the cost of one
more model (least-squares slope), how that cost grows with N, the verdict word, and the tables."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Sequence
from typing import TypeVar

Row = TypeVar("Row")

# Linear: the cost of one more model in the last step (largest sizes) is at most this many
# times its cost in the first step from N >= 10 (smaller steps are dominated by fixed costs).
MAX_GROWTH = 1.3


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_s(values: Sequence[float]) -> str:
    """Median and half the range (max - min) / 2, in seconds."""
    if not values:
        return "-"
    mid, half = median(values), (max(values) - min(values)) / 2
    digits = 1 if mid >= 10 else 2
    return f"{mid:.{digits}f}±{half:.{digits}f}"


def slope(points: Sequence[tuple[int, float]]) -> float:
    """Least-squares cost of one more model."""
    xs, ys = [float(x) for x, _ in points], [y for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    denominator = sum((x - mean_x) ** 2 for x in xs)
    if not denominator:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / denominator


def growth(points: Sequence[tuple[int, float]]) -> float | None:
    """Cost of a model in the last step over its cost in the first step from N >= 10; None
    with fewer than two such steps (three sizes >= 10) or a first step that costs nothing."""
    steps = [(a, b) for a, b in itertools.pairwise(sorted(points)) if a[0] >= 10]
    if len(steps) < 2:
        return None
    first, last = steps[0], steps[-1]
    first_cost = (first[1][1] - first[0][1]) / (first[1][0] - first[0][0])
    last_cost = (last[1][1] - last[0][1]) / (last[1][0] - last[0][0])
    return last_cost / first_cost if first_cost > 0 else None


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(columns: Sequence[tuple[str, Callable[[Row], str]]], rows: Sequence[Row]) -> str:
    """A header line, then a line a row, each column right-aligned to its widest cell."""
    cells = [[header for header, _ in columns]]
    cells += [[cell(row) for _, cell in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(value.rjust(width) for value, width in zip(line, widths, strict=True))
        for line in cells
    )
