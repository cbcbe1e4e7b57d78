"""Building Go programs from their published modules, the way every tool here is built.

No release binary can be downloaded on the machines this project runs on, but the Go module proxy
is reachable: the Pulumi CLI and providers, the simulated cluster, promtool and actionlint are all
built from their modules by `build_module_binary`, into the cache (components.facts.cache).

Only the standard library is used: this runs before any virtualenv exists.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from components.facts.cache import cache_root

CACHE_ROOT = cache_root()
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ToolchainError(RuntimeError):
    """Something the toolchain needs cannot be had; the message names it."""


@dataclass(frozen=True)
class GoBinary:
    """One binary built from a published Go module."""

    name: str
    module: str
    version: str
    package: str
    # Local-path `replace` directives of the module, pointed at published module versions instead.
    replaces: dict[str, str] = field(default_factory=dict)
    # Local-path `replace` directives that only guard against a dependency; dropped.
    dropped_replaces: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    generate_env: dict[str, str] | None = None  # run `go generate` in `package` with this env
    # More binaries of the same module, (name, package), built by the same `go build`, so the
    # packages they share compile once (KEDA's operator and metrics API server).
    also: tuple[tuple[str, str], ...] = ()

    @property
    def binaries(self) -> dict[str, str]:
        """Every binary this spec builds: its name to its package."""
        return {self.name: self.package, **dict(self.also)}


def say(message: str) -> None:
    print(f"[toolchain] {message}", flush=True)


def run(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise ToolchainError(
            f"`{' '.join(cmd)}` failed (exit {result.returncode}):\n{result.stderr.strip()[-4000:]}"
        )
    return result.stdout


def require_go(needed_for: str = "the tools this project builds") -> str:
    go = shutil.which("go")
    if go is None:
        raise ToolchainError(
            f"the Go toolchain (`go`) is not on PATH; it is needed to build {needed_for} from the "
            "Go module proxy"
        )
    return go


def go_download(go: str, module: str, version: str) -> Path:
    """Fetch a module into the module cache and return its (read-only) directory."""
    out = run([go, "mod", "download", "-json", f"{module}@{version}"])
    info = json.loads(out)
    if info.get("Error"):
        raise ToolchainError(f"cannot download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def build_module_binary(
    go: str, spec: GoBinary, bin_dir: Path, log: Callable[[str], None] = say
) -> None:
    """Build one binary from its published module (copied, since the module cache is read-only)."""
    started = time.monotonic()
    log(f"downloading {spec.module}@{spec.version}")
    source = go_download(go, spec.module, spec.version)
    with tempfile.TemporaryDirectory(prefix=f"{spec.name}-", dir=CACHE_ROOT) as scratch:
        workdir = Path(scratch) / "src"
        shutil.copytree(source, workdir)
        for path in workdir.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        # `go install module@version` refuses modules with replace directives, so the module is
        # built as a main module of its own, with each local-path replace pointed at the published
        # module of the same release.
        for module, version in spec.replaces.items():
            run(
                [go, "mod", "edit", f"-dropreplace={module}", f"-require={module}@{version}"],
                cwd=workdir,
            )
        for module in spec.dropped_replaces:
            run([go, "mod", "edit", f"-dropreplace={module}"], cwd=workdir)
        leftover = [
            r["Old"]["Path"]
            for r in json.loads(run([go, "mod", "edit", "-json"], cwd=workdir)).get("Replace") or []
            if r["New"].get("Version") is None
        ]
        if leftover:
            raise ToolchainError(f"{spec.module}: unhandled local replace of {', '.join(leftover)}")
        go_env = {"GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
        if spec.generate_env is not None:
            log(f"go generate {spec.package}")
            run([go, "generate", spec.package], cwd=workdir, env={**go_env, **spec.generate_env})
        names = ", ".join(spec.binaries)
        log(f"building {names} (the first build takes minutes)")
        ldflags = " ".join(("-s", "-w", *spec.ldflags))
        if not spec.also:
            target = bin_dir / f".{spec.name}.partial"
            run(
                [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(target), spec.package],
                cwd=workdir,
                env=go_env,
            )
            target.replace(bin_dir / spec.name)
        else:
            # `go build -o DIR/ P1 P2` writes each main package under its folder's name.
            folders = [Path(package).name for package in spec.binaries.values()]
            if len(set(folders)) < len(folders):
                raise ToolchainError(f"{spec.module}: two packages of {names} share a folder name")
            partial = Path(scratch) / "out"
            partial.mkdir()
            packages = list(spec.binaries.values())
            run(
                [go, "build", "-trimpath", "-ldflags", ldflags, "-o", f"{partial}/", *packages],
                cwd=workdir,
                env=go_env,
            )
            for name, package in spec.binaries.items():
                (partial / Path(package).name).replace(bin_dir / name)
    log(f"built {names} in {time.monotonic() - started:.0f}s")


def cached_binary(
    spec: GoBinary, path: Path, needed_for: str, log: Callable[[str], None] = say
) -> Path:
    """The binary of `spec` at `path` in the cache, built there first when missing.

    One build at a time per binary, across processes: `make test` builds some tools in the
    background while the tests run, and a test that needs one of them waits here for that build
    instead of starting a second one beside it (which would double the CPU it takes)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{spec.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            build_module_binary(require_go(needed_for), spec, path.parent, log=log)
    return path


def version_of(binary: str, *args: str) -> str | None:
    try:
        result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


# One command of a tool's command line: its arguments after the command's name in, an exit code out
# (None is 0).
Command = Callable[[list[str]], "int | None"]


def run_command_line(
    argv: list[str], *, doc: str | None, tag: str, commands: Mapping[str, Command], default: str
) -> int:
    """The command line every tool here shares, `python3 -m toolchain.<tool> [COMMAND [ARGS]]`:
    runs `commands[COMMAND]` (`default` when none is given); an unknown command prints the tool's
    docstring and exits 2, a ToolchainError its message under `[tag]` and exits 1."""
    name = argv[1] if len(argv) > 1 else default
    command = commands.get(name)
    if command is None:
        print(doc, file=sys.stderr)
        return 2
    try:
        return command(argv[2:]) or 0
    except ToolchainError as error:
        print(f"[{tag}] error: {error}", file=sys.stderr)
        return 1


def binary_commands(
    module: str, ensure: Callable[[], Path], path: Callable[[], Path]
) -> dict[str, Command]:
    """`setup` (build or reuse, print the path) and `path` (print it without building; exit 1 when
    missing) of a tool that is one cached binary, `toolchain.<module>`."""

    def setup(_: list[str]) -> None:
        print(ensure())

    def show_path(_: list[str]) -> int:
        if not path().exists():
            say(f"{path().name} is not built; run python3 -m toolchain.{module} setup")
            return 1
        print(path())
        return 0

    return {"setup": setup, "path": show_path}
