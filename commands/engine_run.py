"""Run one `pulumi` command so that no plugin process outlives it (issue #14, "Interruptions").

  python -m commands.engine_run pulumi --stack local up --yes ...

Starts the command with the run's marker in its environment (commands.engine_processes), passes
SIGTERM and SIGHUP on to it (Ctrl-C reaches it from the terminal: it is in the same process group),
waits for it and then stops every plugin process it left behind, saying so. This matters when
pulumi is killed (`kill -9`, the OOM killer): it cannot stop its plugins then, and the policy
analyzer would run for ever. Exits with the command's status, 128+N when signal N killed it, as a
shell does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from commands.engine_processes import MARKER, describe, marked_processes, run_marker, stop


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m commands.engine_run COMMAND [ARG...]", file=sys.stderr)
        return 2
    run = run_marker(Path.cwd())
    child = subprocess.Popen(argv, env={**os.environ, MARKER: run})

    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    # The terminal's Ctrl-C reaches pulumi directly, which cancels cleanly; this run only waits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    status = child.wait()
    # Stop first, report after: the terminal may be gone (a closed pipe) by now.
    left = [p for p in marked_processes() if p.run == run]
    stop(left)

    verb = next((a for a in argv[1:] if a in ("up", "preview", "destroy", "refresh")), None)
    what = f"`{Path(argv[0]).name}{' ' + verb if verb else ''}`"
    lines = []
    if status < 0:
        name = signal.Signals(-status).name
        lines.append(f"{what} was killed by signal {-status} ({name}) before it finished")
    if left:
        processes = f"{len(left)} plugin process{'es' if len(left) != 1 else ''}"
        lines.append(f"stopped {processes} {what} left running: {describe(left)}")
    if status < 0:
        lines.append(
            "the stack may hold pending operations and a lock: the next `make up` says which and "
            "clears them (README, Recovering from an interrupted update)"
        )
    with contextlib.suppress(OSError):
        if status < 0:  # pulumi's last progress line has no end
            print(file=sys.stderr)
        for line in lines:
            print(f"[engine] {line}", file=sys.stderr, flush=True)
    return 128 - status if status < 0 else status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
