"""Programs a test runs beside the simulated cluster, on loopback: each in its own process group
with its log in a file, stopped by its own pid when the test is done."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolchain.plane.layout import free_port

__all__ = ["LoopbackProcess", "free_port", "wait_for"]


@dataclass
class LoopbackProcess:
    """One running program; `log` holds everything it printed."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls, name: str, command: list[str], log_dir: Path, env: dict[str, str] | None = None
    ) -> LoopbackProcess:
        log_dir.mkdir(parents=True, exist_ok=True)
        log = log_dir / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        return cls(name, process, log)

    def tail(self, characters: int = 3000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"last lines of {self.log}:\n{text[-characters:]}"

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15) -> None:
        if not self.running():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    watched: list[LoopbackProcess] | None = None,
) -> None:
    """Poll `check` until it holds; fail with the logs of `watched` when it does not in time or
    when one of them exits."""
    deadline = time.monotonic() + timeout
    watched = watched or []
    while True:
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            if check():
                return
        ended = [p for p in watched if not p.running()]
        if ended or time.monotonic() > deadline:
            reason = (
                f"{', '.join(p.name for p in ended)} exited"
                if ended
                else f"not so after {timeout:.0f}s"
            )
            logs = "\n".join(p.tail() for p in watched)
            raise AssertionError(f"{what}: {reason}\n{logs}")
        time.sleep(0.5)
