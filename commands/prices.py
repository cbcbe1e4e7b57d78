"""The pinned price table (gpu_prices.yaml beside this file), validated once, for cost estimates.

Only the preview summary reads it; the program and the policies do not, so a stale price can
never change what is deployed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, PositiveFloat

from components.facts.gpu import GPU_TYPE_BY_INSTANCE_FAMILY, GpuType, gpus_per_instance
from components.facts.types import SYSTEM_INSTANCE_FAMILIES, instance_family
from components.facts.yaml_input import load_yaml

PRICES_FILE = Path(__file__).with_name("gpu_prices.yaml")


def _known_instance_type(value: str) -> str:
    family = instance_family(value)
    if family not in GPU_TYPE_BY_INSTANCE_FAMILY and family not in SYSTEM_INSTANCE_FAMILIES:
        raise ValueError(f"{value!r} is on neither the GPU nor the system instance allow-list")
    return value


KnownInstanceType = Annotated[str, AfterValidator(_known_instance_type)]


class PriceTable(BaseModel):
    """Hourly price per instance type, with where and when the figures come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    region: str
    currency: str
    recorded: str
    hourly: dict[KnownInstanceType, PositiveFloat]

    def instance_hourly(self, instance_type: str) -> float | None:
        return self.hourly.get(instance_type)

    def gpu_hourly(self, gpu_type: GpuType) -> tuple[str, float] | None:
        """The cheapest listed instance carrying `gpu_type`, and its price per GPU-hour."""
        offers = [
            (price / gpus_per_instance(name), name)
            for name, price in self.hourly.items()
            if GPU_TYPE_BY_INSTANCE_FAMILY.get(instance_family(name)) == gpu_type
        ]
        if not offers:
            return None
        price, name = min(offers)
        return name, price

    @property
    def label(self) -> str:
        return (
            f"{self.region} on-demand list prices in {self.currency}, recorded {self.recorded} "
            f"from {self.source}"
        )


def load_price_table(path: Path = PRICES_FILE) -> PriceTable:
    return PriceTable.model_validate(load_yaml(path.read_text(), path.name))
