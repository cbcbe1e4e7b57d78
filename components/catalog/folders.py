"""Which folders under models/ are models: read by the programs, by load, and by the commands run
on every `make preview` (commands/fleet.py), which need the names without the SDK that load
imports."""

from __future__ import annotations

from pathlib import Path


def model_names(models_root: Path) -> list[str]:
    """The models as their folders name them, in name order (each is validated by
    load.load_catalog): every folder under models_root but hidden and underscored ones."""
    return sorted(p.name for p in models_root.iterdir() if p.is_dir() and p.name[0] not in "._")
