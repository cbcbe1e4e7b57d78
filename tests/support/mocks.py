"""What the tests share: the stack config as the engine would merge it, and Pulumi mocks."""

from __future__ import annotations

import json
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.mocks import MockMonitor

from components.catalog.gate_record import (
    GateRecord,
    StartupMeasurement,
    content_digest,
    gate_record_path,
    savedmodel_dir,
    write_record,
)
from components.catalog.spec import ModelSpec
from components.settings.load import PROJECT

ROOT = Path(__file__).resolve().parents[2]


def declared_config() -> dict[str, dict[str, Any]]:
    """The `config:` block of Pulumi.yaml."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    return dict(project["config"])


def stack_config(stack: str, **overrides: Any) -> dict[str, Any]:
    """Pulumi.yaml defaults under the values of Pulumi.<stack>.yaml, as the engine merges them."""
    values = {key: spec["default"] for key, spec in declared_config().items()}
    stack_file = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}
    for key, value in (stack_file.get("config") or {}).items():
        namespace, _, name = key.partition(":")
        if namespace == PROJECT:
            values[name] = value
    values.update(overrides)
    return values


# Figures of the order the gate measures for the shipped models (models/*/gate/*.json).
STARTUP = StartupMeasurement(
    load_seconds=0.4,
    warmup_seconds=0.3,
    warmup_requests=2,
    first_inference_ms=120.0,
    steady_inference_ms=0.5,
    steady_runs=50,
    measured_on="test CPU",
)


def record_gate(folder: Path, version: int, passed: bool) -> None:
    """A gate record for the SavedModel files of `folder` at `version`, as commands.gate writes
    it under the folder's model.yaml as it is now."""
    spec = ModelSpec.model_validate(yaml.safe_load((folder / "model.yaml").read_text()))
    record = GateRecord(
        model=folder.name,
        version=version,
        digest=content_digest(savedmodel_dir(folder, version)),
        gate=spec.gate,
        signature=spec.signature,
        train=next(v.train for v in spec.versions if v.id == version),
        value=0.97 if passed else 0.41,
        passed=passed,
        failures=[] if passed else ["accuracy 0.41 is below the threshold 0.90"],
        tensorflow="2.20.0",
        startup=STARTUP if passed else None,
    )
    write_record(gate_record_path(folder, version), record)


def _as_engine_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


MOCK_ACCOUNT = "111122223333"
"""The account the mocked AWS answers for when no AWS provider names one."""


@dataclass(frozen=True)
class Registration:
    """What the program asked of the engine for one resource, beyond its inputs."""

    urn: str
    parent: str
    protect: bool
    dependencies: list[str]
    ignore_changes: list[str]
    aliases: list[tuple[str, str, str]]
    """(name, type, parent URN) of each alias given as a spec."""


class RecordingMocks(pulumi.runtime.Mocks):
    """Echoes inputs back as outputs, answers with what AWS would add (ARNs, URLs, the cluster's
    endpoint and OIDC issuer), and records every resource and invoke the program makes."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.registrations: dict[tuple[str, str], Registration] = {}
        self.calls: list[pulumi.runtime.MockCallArgs] = []
        self.aws_region = "eu-west-1"
        self.aws_account = MOCK_ACCOUNT
        self.stack_outputs: dict[str, dict[str, Any]] = {}
        """What a StackReference to each stack (by its full name) reads."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "pulumi:providers:aws":
            # AWS answers in the provider's region, for the one account it allows.
            self.aws_region = args.inputs.get("region", self.aws_region)
            allowed = json.loads(args.inputs.get("allowedAccountIds", "[]"))
            self.aws_account = allowed[0] if allowed else MOCK_ACCOUNT
        elif args.typ.startswith("aws:"):
            outputs = {**outputs, **self._aws_outputs(args)}
        elif args.typ == "pulumi:pulumi:StackReference":
            name = str(args.inputs["name"])
            if name not in self.stack_outputs:
                raise Exception(f"unknown stack {name!r}")
            outputs = {**outputs, "outputs": self.stack_outputs[name], "secretOutputNames": []}
        return f"{args.name}-id", outputs

    def _aws_outputs(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        region, account = self.aws_region, self.aws_account
        name = args.inputs.get("name", args.name)
        service = args.typ.split(":")[1].split("/")[0]
        added: dict[str, Any] = {
            "arn": f"arn:aws:{service}:{region}:{account}:{args.name}",
            "name": name,
        }
        if args.typ == "aws:iam/role:Role":
            added["arn"] = f"arn:aws:iam::{account}:role/{name}"
        elif args.typ == "aws:kms/key:Key":
            added["keyId"] = f"{args.name}-key-id"
            added["arn"] = f"arn:aws:kms:{region}:{account}:key/{args.name}-key-id"
        elif args.typ == "aws:ecr/repository:Repository":
            host = f"{account}.dkr.ecr.{region}.amazonaws.com"
            added["repositoryUrl"] = f"{host}/{name}"
            added["registryId"] = account
        elif args.typ == "aws:eks/cluster:Cluster":
            added["endpoint"] = f"https://{name}.gr7.{region}.eks.amazonaws.com"
            added["certificateAuthority"] = {"data": "bW9jay1jYQ=="}
            issuer = f"https://oidc.eks.{region}.amazonaws.com/id/MOCK{name.upper()}"
            added["identities"] = [{"oidcs": [{"issuer": issuer}]}]
        elif args.typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            url = str(args.inputs["url"]).removeprefix("https://")
            added["arn"] = f"arn:aws:iam::{account}:oidc-provider/{url}"
        elif args.typ == "aws:eks/nodeGroup:NodeGroup":
            added["nodeGroupName"] = f"{args.name}-mock"
        return added

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.calls.append(args)
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            host = f"{self.aws_account}.dkr.ecr.{self.aws_region}.amazonaws.com"
            return {
                "id": self.aws_region,
                "authorizationToken": "QVdTOm1vY2s=",
                "expiresAt": "2030-01-01T00:00:00Z",
                "password": "mock",
                "proxyEndpoint": f"https://{host}",
                "userName": "AWS",
            }, []
        return {}, []

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def registration(self, resource: pulumi.runtime.MockResourceArgs) -> Registration:
        return self.registrations[(resource.typ, resource.name)]


class RecordingMonitor(MockMonitor):
    """The mock engine, also recording the options (parent, protect, ...) of each registration."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        self.recording.registrations[(request.type, request.name)] = Registration(
            urn=response.urn,
            parent=request.parent,
            protect=request.protect,
            dependencies=list(request.dependencies),
            ignore_changes=list(request.ignoreChanges),
            aliases=[
                (alias.spec.name, alias.spec.type, alias.spec.parentUrn)
                for alias in request.aliases
                if alias.HasField("spec")
            ],
        )
        return response


def use_mocks(
    config: dict[str, Any], stack: str = "local", mocks: RecordingMocks | None = None
) -> RecordingMocks:
    mocks = mocks or RecordingMocks()
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=False, monitor=RecordingMonitor(mocks)
    )
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{key}": _as_engine_string(value) for key, value in config.items()}
    )
    return mocks


def run_program(
    config: dict[str, Any], stack: str = "local", mocks: RecordingMocks | None = None
) -> RecordingMocks:
    """Run __main__.py under mocks with the given project config and wait for every resource."""
    mocks = use_mocks(config, stack, mocks)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def _run() -> None:
        runpy.run_path(str(ROOT / "__main__.py"))

    _run()
    return mocks
