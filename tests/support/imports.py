"""What importing some modules loads, seen from a fresh interpreter in the project: the tests that
keep heavy imports off paths users wait for (every engine run, every `make preview`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from tests.support.mocks import ROOT


def loaded_by(modules: str, prefixes: Sequence[str]) -> list[str]:
    """The loaded modules whose names start with one of `prefixes` after `import <modules>` (a
    comma-separated list) in a new interpreter run from the project's root."""
    probe = (
        f"import sys, {modules}; "
        f"print('\\n'.join(sorted(m for m in sys.modules if m.startswith({tuple(prefixes)!r}))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return loaded.stdout.split()
