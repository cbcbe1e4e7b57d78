"""After an interrupted engine run: say what it left and deal with it (issue #14, "Interruptions").

  python -m commands.recover --stack local [--report-only]

`make up` and `make destroy` run this before the engine, `make preview` and `make drift` with
--report-only (a preview changes nothing; it says what the next `make up` will do). What pulumi
3.215 leaves after `kill -9`, and what is done about each (README, "Recovering from an interrupted
update"):

- Plugin processes of the killed run (commands.engine_processes): stopped.
- The stack's lock, on a file backend a file under `.pulumi/locks/` naming the pid and host that
  took it: every later update fails with "the stack is currently locked". When that pid is gone
  from this host, `pulumi cancel --yes` removes it (on a file backend cancel removes the lock, as
  of pulumi#9100); a live holder, or one on another host, is named and the update refused.
- Pending operations in the checkpoint, the resources the run was creating, updating or deleting
  when it died. The engine drops pending updates and deletes after the next update, but keeps
  pending creates for ever, warning about them on each `up` without a refresh and on none with
  one, and `pulumi refresh` clears them only interactively or with --clear-pending-creates. They
  are listed, then cleared by `pulumi refresh --clear-pending-creates` aimed at the stack resource
  alone: a full refresh in render mode fails (every object unreachable), on a cluster `make up`
  refreshes anyway. That is safe because the update that follows declares those resources again:
  in render mode it writes their manifests again, on a cluster the pinned Kubernetes provider
  (4.25, server-side apply) applies to an object the killed run already created instead of
  failing (from 4.29 that needs its upsertExistingObjects setting).
- Rendered manifests (render mode) that no resource in the state owns, such as a file the killed
  run wrote for a resource it never recorded: removed, each named. A platform stack and its models
  stacks render into one directory (they share a config file, docs/fleet-scale.md), so a manifest
  is an orphan only when no stack of the project rendering there owns it, and none is removed
  while another of those stacks is being updated (its new objects' files may precede its state).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from commands.backend_state import STACK_TYPE, StateUnreadable, read_deployment
from commands.engine_processes import describe, leftovers_of, start_time, stop
from commands.fleet import existing_stacks
from components.fleet.stacks import FleetStacksError

PREFIX = "[recover]"
KUBERNETES_PROVIDER = "pulumi:providers:kubernetes"
# libyaml's safe loader when PyYAML has it: rendered CRDs make a second of the pure-Python one.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Key = tuple[str, str, str, str]
"""A Kubernetes object: apiVersion, kind, namespace ("" when cluster-scoped), name."""


@dataclass(frozen=True)
class Lock:
    path: Path
    pid: int
    user: str
    host: str
    timestamp: str

    def holder(self) -> str:
        return f"pulumi pid {self.pid}, {self.user}@{self.host}, started {self.timestamp[:19]}Z"

    def state(self) -> str:
        """ "running", "gone" (its pid is not a pulumi process on this host) or "elsewhere"."""
        if self.host != socket.gethostname():
            return "elsewhere"
        if start_time(self.pid) is None:
            try:
                os.kill(self.pid, 0)  # no /proc: only whether the pid exists at all
            except ProcessLookupError:
                return "gone"
            return "running"
        try:
            argv0 = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            return "gone"
        return "running" if Path(argv0.decode()).name == "pulumi" else "gone"


def file_locks(backend_url: str, project: str, stack: str) -> list[Lock]:
    """The stack's lock files on a file backend (`file://`); other backends report their own."""
    url = urlparse(backend_url)
    if url.scheme != "file":
        return []
    locks_dir = Path(unquote(url.path)) / ".pulumi" / "locks"
    found = []
    # Project-scoped stacks lock under organization/<project>/<stack>, the legacy layout <stack>.
    for path in [
        *locks_dir.glob(f"*/{project}/{stack}/*.json"),
        *locks_dir.glob(f"{stack}/*.json"),
    ]:
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found.append(
            Lock(
                path,
                int(raw.get("pid", 0)),
                raw.get("username", "?"),
                raw.get("hostname", "?"),
                raw.get("timestamp", "?"),
            )
        )
    return found


def pulumi(stack: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", "--non-interactive", *args, "--stack", stack], capture_output=True, text=True
    )


def object_key(manifest: dict[str, Any]) -> Key | None:
    metadata = manifest.get("metadata") or {}
    if not isinstance(metadata, dict) or not metadata.get("name"):
        return None
    return (
        str(manifest.get("apiVersion", "")),
        str(manifest.get("kind", "")),
        str(metadata.get("namespace") or ""),
        str(metadata["name"]),
    )


def render_dirs(deployment: dict[str, Any], project: Path) -> list[Path]:
    """Where the stack's Kubernetes providers render manifests (render mode only)."""
    resources = [
        *(deployment.get("resources") or []),
        *(op["resource"] for op in deployment.get("pending_operations") or []),
    ]
    dirs = {
        project / r["inputs"]["renderYamlToDirectory"]
        for r in resources
        if r.get("type") == KUBERNETES_PROVIDER
        and (r.get("inputs") or {}).get("renderYamlToDirectory")
    }
    return sorted(dirs)


def owned_objects(deployment: dict[str, Any]) -> set[Key]:
    keys = set()
    for resource in deployment.get("resources") or []:
        if resource.get("type", "").startswith("kubernetes:") and resource.get("outputs"):
            key = object_key(resource["outputs"])
            if key:
                keys.add(key)
    return keys


def rendered_name(key: Key) -> str:
    """The file name the Kubernetes provider renders an object to (renderPathForResource in
    provider/provider.go of the pinned 4.25: apiVersion with / and : as _, the kind in lower case,
    the namespace or "default", the name)."""
    api_version, kind, namespace, name = key
    api = api_version.replace("/", "_").replace(":", "_")
    return f"{api}-{kind.lower()}-{namespace or 'default'}-{name}.yaml"


def rendered_files(dirs: Iterable[Path]) -> list[Path]:
    return [path for folder in dirs for path in sorted(folder.rglob("*.yaml"))]


def orphan_manifests(dirs: Iterable[Path], owned: set[Key]) -> list[Path]:
    """The rendered manifests under `dirs` whose object is not `owned`, in path order."""
    return unowned(unnamed(rendered_files(dirs), owned), owned)


def unnamed(paths: Iterable[Path], owned: set[Key]) -> list[Path]:
    """Those of `paths` not named as an `owned` object's manifest, read by name alone: at 100
    models a render directory holds about 1,000 manifests, a second or two of YAML to parse."""
    names = {rendered_name(key) for key in owned}
    return [path for path in paths if path.name not in names]


def unowned(paths: Iterable[Path], owned: set[Key]) -> list[Path]:
    """Those of `paths` that are manifests of an object not `owned`."""
    orphans = []
    for path in paths:
        try:
            manifest = yaml.load(path.read_text(), Loader=SAFE_LOADER)
        except (OSError, yaml.YAMLError):
            continue
        key = object_key(manifest) if isinstance(manifest, dict) else None
        if key is not None and key not in owned:
            orphans.append(path)
    return orphans


@dataclass(frozen=True)
class Neighbours:
    """The other stacks of the project rendering into the same directories."""

    owned: set[Key]
    """The objects their states own."""
    updating: list[str]
    """Those of them locked by a pulumi running now."""


def project_stacks() -> list[str]:
    try:
        return sorted(existing_stacks())
    except FleetStacksError:  # no stack listed, as when none exists
        return []


def other_deployments(stack: str, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The last deployment of each other stack of project `name` that can be read."""
    for other in project_stacks():
        if other != stack:
            try:
                yield other, read_deployment(name, other)
            except StateUnreadable:
                continue


def own_deployment(stack: str, name: str) -> dict[str, Any] | None:
    """The stack's last deployment, or None, said, when it cannot be read."""
    try:
        return read_deployment(name, stack)
    except StateUnreadable as error:  # the engine run that follows reports it too
        print(f"{PREFIX} cannot read the state of `{stack}`:\n{error}", file=sys.stderr)
        return None


def neighbours(stack: str, dirs: list[Path], project: Path, name: str) -> Neighbours:
    """What the project's other stacks rendering into `dirs` own: read only when `stack`'s own
    state leaves manifests there unowned, so a stack alone in its directory pays nothing."""
    owned: set[Key] = set()
    updating = []
    backend = os.environ.get("PULUMI_BACKEND_URL", "")
    for other, deployment in other_deployments(stack, name):
        if not set(render_dirs(deployment, project)) & set(dirs):
            continue
        owned |= owned_objects(deployment)
        if any(lock.state() == "running" for lock in file_locks(backend, name, other)):
            updating.append(other)
    return Neighbours(owned, updating)


def operation_line(op: dict[str, Any]) -> str:
    resource = op["resource"]
    return f"{op['type']} {resource['type']} {resource['urn'].rsplit('::', 1)[-1]}"


def plural(count: int, word: str, suffix: str = "s") -> str:
    return f"{count} {word}{'' if count == 1 else suffix}"


@dataclass
class Recovery:
    stack: str
    project: Path
    report_only: bool

    def say(self, line: str) -> None:
        print(f"{PREFIX} {line}", flush=True)

    def run(self, command: list[str]) -> bool:
        """Run a recovery command, saying it verbatim; its error goes to the terminal."""
        full = ["pulumi", "--non-interactive", *command[1:], "--stack", self.stack]
        shown = " ".join(a if " " not in a else f"'{a}'" for a in full)
        if self.report_only:
            self.say(f"  `make up` will run: {shown}")
            return True
        result = pulumi(self.stack, *command[1:])
        if result.returncode != 0:
            self.say(f"  {shown} failed (exit {result.returncode}):")
            print(result.stdout + result.stderr, file=sys.stderr)
            return False
        self.say(f"  done: {shown}")
        return True


def recover(stack: str, project: Path, report_only: bool) -> int:
    recovery = Recovery(stack, project, report_only)
    say = recovery.say
    name = (yaml.safe_load((project / "Pulumi.yaml").read_text()) or {}).get("name", "")
    deployment = own_deployment(stack, name)
    if deployment is None:
        return 0 if report_only else 1
    pending = deployment.get("pending_operations") or []
    stray = leftovers_of(project)
    locks = file_locks(os.environ.get("PULUMI_BACKEND_URL", ""), name, stack)
    live = [lock for lock in locks if lock.state() != "gone"]
    stale = [lock for lock in locks if lock.state() == "gone"]

    if stray:  # not state: stopped by previews too, and whatever holds the stack
        stop(stray)
    if (stale or pending or stray) and not live:
        who = f" ({stale[0].holder()})" if stale else ""
        say(
            f"the last engine run of `{stack}`{who} did not finish (killed or crashed); "
            "what it left, and what this does about it:"
        )
    if stray:
        say(
            f"- {plural(len(stray), 'plugin process', 'es')} still running: "
            f"{describe(stray)}; stopped"
        )
    for lock in live:
        where = "is running now" if lock.state() == "running" else "holds it on another host"
        say(f"- the stack is locked by {lock.holder()}, which {where}: {lock.path}")
        if lock.state() == "elsewhere":
            say(
                f"  if no update runs there, `pulumi cancel --yes --stack {stack}` removes the lock"
            )
    if live:  # its pending operations and half-rendered files are that update's own, under way
        say("  not touching the stack while another update holds it; run `make up` again after it")
        return 0 if report_only else 1
    if stale:
        say(f"- its lock on the stack, which every update would refuse: {stale[0].path}")
        if not recovery.run(["pulumi", "cancel", "--yes"]):
            return 1
    if pending:
        their = "its" if len(pending) == 1 else "their"
        say(f"- {plural(len(pending), 'operation')} pending, {their} outcome unknown to the state:")
        for op in pending:
            say(f"    {operation_line(op)}")
        creates = [op for op in pending if op["type"] == "creating"]
        if len(creates) < len(pending):
            say("  the engine drops pending updates and deletes once the next update has run")
        if creates:
            say(
                "  pending creates stay in the state until cleared (every update keeps them); "
                "clearing is safe: the update declares those resources again "
                "(in render mode it writes their manifests again; on a cluster the Kubernetes "
                "provider applies to an object the interrupted run did create)"
            )
            stack_urns = [
                r["urn"] for r in deployment.get("resources") or [] if r["type"] == STACK_TYPE
            ]
            # Aimed at the stack resource: a full refresh fails in render mode. Without one in the
            # state nothing that a refresh would read is there either.
            target = ["--target", stack_urns[0]] if stack_urns else []
            command = ["pulumi", "refresh", "--yes", "--skip-preview", "--clear-pending-creates"]
            if not recovery.run([*command, *target]):
                return 1
    dirs = render_dirs(deployment, project)
    owned = owned_objects(deployment)
    orphans = unnamed(rendered_files(dirs), owned)
    updating: list[str] = []
    if orphans:
        others = neighbours(stack, dirs, project, name)
        owned |= others.owned
        updating = others.updating
        orphans = unowned(unnamed(orphans, owned), owned)
    if orphans and updating:
        say(
            f"- {plural(len(orphans), 'rendered manifest')} that no stack's state owns yet; "
            f"not removed while {', '.join(updating)} is being updated (they may be "
            "its objects under way)"
        )
        orphans = []
    if orphans:
        done = "`make up` removes" if report_only else "removed"
        say(
            f"- {plural(len(orphans), 'rendered manifest')} that no resource in the state "
            f"owns; {done}:"
        )
        for path in orphans:
            if not report_only:
                path.unlink()
            say(f"    {path.relative_to(project) if path.is_relative_to(project) else path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument(
        "--report-only", action="store_true", help="say what `make up` will do; change nothing"
    )
    args = parser.parse_args(argv)
    return recover(args.stack, Path.cwd(), args.report_only)


if __name__ == "__main__":
    sys.exit(main())
