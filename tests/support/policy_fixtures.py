"""Every rule's pass/fail fixtures, as data: each one a named object, the rule it pins, and that
rule's exact verdict.

The same fixtures run twice: called directly (tests/policies/test_fixtures.py) and pushed through
a real preview with the pack (tests/policies/test_engine_parity.py), one preview per family, each
fixture its own resource; the engine's verdict must equal the direct call's for every rule on
every fixture. So fixtures carry values the way the engine delivers them, too: floats where the
program wrote integers, the SDK's unknown marker where a value is computed during the update,
int-or-string fields written both ways.

Baselines are the objects ModelService really builds (components/serving/builders.py), renamed to
the fixture's id, and changed in one place per fixture."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from components.facts.gpu import GPU_RESOURCE
from components.serving import builders as serving
from policies.docs import CONFIG_DIR
from policies.support import Rule
from tests.support.specs import spec_of, startup_of

UNKNOWN = UNKNOWN_STRING_VALUE
"""What a policy sees for a value computed during the update (an image built in the same run,
say); the parity program registers it as an unknown Output."""
REGISTRY = "registry.local:5000/gpu-model-platform"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
POD = "kubernetes:core/v1:Pod"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
SERVICE = "kubernetes:core/v1:Service"
DIGEST = "sha256:" + "0" * 64


@dataclass(frozen=True)
class Fixture:
    rule: str
    """The rule whose verdict this fixture pins (the engine parity checks every rule on it)."""
    id: str
    """Unique; the object's metadata.name and the engine resource's name."""
    resource_type: str
    props: dict[str, Any]
    expected: tuple[str, ...]
    """The rule's messages, exactly; empty for a compliant fixture."""
    protect: bool = False
    control: str | None = None
    """The Pod Security Standards control a pod-security fixture covers."""

    @property
    def compliant(self) -> bool:
        return not self.expected


@dataclass(frozen=True)
class Family:
    """Fixtures previewed together, under one pack configuration."""

    name: str
    fixtures: list[Fixture]
    overrides: dict[str, Any] = field(default_factory=dict)
    """Changes to policies/config/local.json for this family, per policy."""

    def pack_config(self) -> dict[str, Any]:
        config: dict[str, Any] = json.loads((CONFIG_DIR / "local.json").read_text())
        for policy, settings in self.overrides.items():
            config[policy] = {**(config.get(policy) or {}), **settings}
        return config


def given(rule: Rule, pack_config: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a pack configuration gives a rule (the engine adds the schema's defaults)."""
    own = pack_config.get(rule.name)
    return (
        {k: v for k, v in own.items() if k != "enforcementLevel"} if isinstance(own, dict) else {}
    )


def settings(rule: Rule, pack_config: Mapping[str, Any]) -> dict[str, Any]:
    return {**rule.defaults(), **given(rule, pack_config)}


class _Options:
    def __init__(self, protect: bool) -> None:
        self.protect = protect


class _Args:
    """What the policy SDK hands a resource validator: proxied props, options, config."""

    def __init__(self, fixture: Fixture, config: dict[str, Any]) -> None:
        self.resource_type = fixture.resource_type
        self.props = unknown_checking_proxy(copy.deepcopy(fixture.props))
        self.opts = _Options(fixture.protect)
        self._config = config

    def get_config(self) -> dict[str, Any]:
        return self._config


def direct_verdict(rule: Rule, fixture: Fixture, pack_config: Mapping[str, Any]) -> list[str]:
    """The rule's messages on the fixture, through the same validator the engine calls."""
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    try:
        rule._validate_resource(_Args(fixture, given(rule, pack_config)), report)  # type: ignore[arg-type]
    except UnknownValueError:
        # A rule that is not critical is "not run" on an unknown value: no verdict.
        return []
    return found


# --- baselines ------------------------------------------------------------------------------------


def _api(resource_type: str) -> dict[str, str]:
    _, group_version, kind = resource_type.split(":")
    return {"apiVersion": group_version.removeprefix("core/"), "kind": kind}


def deployment(name: str, model: str = "digits") -> dict[str, Any]:
    spec = spec_of(model)
    (track,) = serving.tracks(
        spec, {v: f"{REGISTRY}/{model}:v{v}-abc" for v in spec.served_versions}, startup_of(spec)
    )
    props = copy.deepcopy(serving.deployment(spec, track, "models", "cfg"))
    props["metadata"]["name"] = name
    return {**_api(DEPLOYMENT), **props}


def pod_of(props: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = props["spec"]["template"]["spec"]
    return spec


def main(props: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = pod_of(props)["containers"][0]
    return result


def context(props: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = main(props)["securityContext"]
    return result


def sidecar(name: str = "warmup") -> dict[str, Any]:
    """A compliant init container: restricted context, requests and a memory limit."""
    return {
        "name": name,
        "image": f"{REGISTRY}/tools:v1",
        "resources": {
            "requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"memory": "64Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def debugger() -> dict[str, Any]:
    """A compliant ephemeral container (ephemeral containers take no resources or probes)."""
    found = sidecar("debug")
    del found["resources"]
    return found


WORKLOAD_KINDS = {
    "kubernetes:apps/v1:StatefulSet": lambda d: {"serviceName": "x", **d["spec"]},
    "kubernetes:apps/v1:DaemonSet": lambda d: {
        "selector": d["spec"]["selector"],
        "template": d["spec"]["template"],
    },
    "kubernetes:apps/v1:ReplicaSet": lambda d: {
        "selector": d["spec"]["selector"],
        "template": d["spec"]["template"],
    },
    "kubernetes:batch/v1:Job": lambda d: {"template": _job_template(d)},
    "kubernetes:batch/v1:CronJob": lambda d: {
        "schedule": "0 * * * *",
        "jobTemplate": {"spec": {"template": _job_template(d)}},
    },
}


def _job_template(props: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(props["spec"]["template"])
    template["spec"]["restartPolicy"] = "Never"
    return dict(template)


def as_kind(resource_type: str, props: dict[str, Any]) -> dict[str, Any]:
    """The deployment's pod template carried by another workload kind, or as a bare Pod."""
    metadata = props["metadata"]
    if resource_type == POD:
        template = props["spec"]["template"]
        return {
            **_api(POD),
            "metadata": {**metadata, "labels": template["metadata"]["labels"]},
            "spec": copy.deepcopy(template["spec"]),
        }
    return {
        **_api(resource_type),
        "metadata": metadata,
        "spec": WORKLOAD_KINDS[resource_type](props),
    }


Change = Callable[[dict[str, Any]], object]


def changed(name: str, change: Change, model: str = "digits") -> dict[str, Any]:
    props = deployment(name, model)
    change(props)
    return props


# --- pod-security, control by control -------------------------------------------------------------

# (control, id suffix, change, expected messages with {n} for the object's name)
PSS_CASES: list[tuple[str, str, Change, tuple[str, ...]]] = [
    (
        "host-process",
        "ok",
        lambda d: context(d).update(windowsOptions={"hostProcess": False}),
        (),
    ),
    (
        "host-process",
        "bad",
        lambda d: (
            pod_of(d)["securityContext"].update(windowsOptions={"hostProcess": True}),
            context(d).update(windowsOptions={"hostProcess": True}),
        ),
        (
            "{n}: runs Windows HostProcess containers",
            "{n}/tfserving: is a Windows HostProcess container",
        ),
    ),
    ("host-namespaces", "ok", lambda d: pod_of(d).update(hostNetwork=False, hostPID=False), ()),
    (
        "host-namespaces",
        "bad",
        lambda d: pod_of(d).update(hostNetwork=True, hostIPC=True),
        ("{n}: uses the host's network namespace", "{n}: uses the host's ipc namespace"),
    ),
    (
        "host-namespaces",
        "pid",
        lambda d: pod_of(d).update(hostPID=True),
        ("{n}: uses the host's pid namespace",),
    ),
    ("privileged", "ok", lambda d: context(d).update(privileged=False), ()),
    (
        "privileged",
        "bad-init",
        lambda d: pod_of(d).update(
            initContainers=[
                {
                    **sidecar(),
                    "securityContext": {**sidecar()["securityContext"], "privileged": True},
                }
            ]
        ),
        ("{n}/warmup: is privileged",),
    ),
    (
        "baseline-capabilities",
        "ok",
        lambda d: context(d)["capabilities"].update(add=["NET_BIND_SERVICE"]),
        (),
    ),
    (
        "baseline-capabilities",
        "bad",
        lambda d: context(d)["capabilities"].update(add=["SYS_ADMIN"]),
        ("{n}/tfserving: adds capability SYS_ADMIN, which the baseline profile forbids",),
    ),
    (
        "host-path",
        "ok",
        lambda d: pod_of(d)["volumes"].append({"name": "scratch", "emptyDir": {}}),
        (),
    ),
    (
        "host-path",
        "bad",
        lambda d: pod_of(d)["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run"}}),
        ("{n}: mounts hostPath volume docker",),
    ),
    # int-or-absent: 0 means no host port; the engine delivers 0.0.
    ("host-ports", "ok", lambda d: main(d)["ports"][0].update(hostPort=0.0), ()),
    (
        "host-ports",
        "bad",
        lambda d: main(d)["ports"][0].update(hostPort=8501),
        ("{n}/tfserving: binds host port 8501",),
    ),
    (
        "host-ports",
        "bad-float",
        lambda d: main(d)["ports"][0].update(hostPort=8501.0),
        ("{n}/tfserving: binds host port 8501",),
    ),
    (
        "apparmor",
        "ok",
        lambda d: (
            pod_of(d)["securityContext"].update(appArmorProfile={"type": "RuntimeDefault"}),
            d["spec"]["template"]["metadata"].update(
                annotations={
                    "container.apparmor.security.beta.kubernetes.io/tfserving": "localhost/tfs"
                }
            ),
        ),
        (),
    ),
    (
        "apparmor",
        "bad",
        lambda d: (
            context(d).update(appArmorProfile={"type": "Unconfined"}),
            d["spec"]["template"]["metadata"].update(
                annotations={
                    "container.apparmor.security.beta.kubernetes.io/tfserving": "unconfined"
                }
            ),
        ),
        (
            "{n}/tfserving: AppArmor profile Unconfined; only RuntimeDefault or Localhost",
            "{n}/tfserving: AppArmor annotation unconfined",
        ),
    ),
    (
        "selinux",
        "ok",
        lambda d: context(d).update(seLinuxOptions={"type": "container_t", "level": "s0:c1"}),
        (),
    ),
    (
        "selinux",
        "bad",
        lambda d: (
            pod_of(d)["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
            context(d).update(seLinuxOptions={"user": "system_u"}),
        ),
        (
            "{n}: SELinux type spc_t is not a container type",
            "{n}/tfserving: sets SELinux user system_u",
        ),
    ),
    ("proc-mount", "ok", lambda d: context(d).update(procMount="Default"), ()),
    (
        "proc-mount",
        "bad",
        lambda d: context(d).update(procMount="Unmasked"),
        ("{n}/tfserving: procMount Unmasked; only Default is allowed",),
    ),
    (
        "baseline-seccomp",
        "ok",
        lambda d: (
            pod_of(d)["securityContext"].update(
                seccompProfile={"type": "Localhost", "localhostProfile": "p.json"}
            ),
            context(d).pop("seccompProfile"),
        ),
        (),
    ),
    (
        "baseline-seccomp",
        "bad",
        lambda d: pod_of(d)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        ("{n}: seccomp profile is Unconfined",),
    ),
    (
        "sysctls",
        "ok",
        lambda d: pod_of(d)["securityContext"].update(
            sysctls=[{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
        ),
        (),
    ),
    (
        "sysctls",
        "bad",
        lambda d: pod_of(d)["securityContext"].update(
            sysctls=[{"name": "kernel.msgmax", "value": "65536"}]
        ),
        ("{n}: sets unsafe sysctl kernel.msgmax",),
    ),
    (
        "volume-types",
        "ok",
        lambda d: pod_of(d)["volumes"].extend(
            [
                {
                    "name": "token",
                    "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]},
                },
                {"name": "data", "persistentVolumeClaim": {"claimName": "models"}},
            ]
        ),
        (),
    ),
    (
        "volume-types",
        "bad",
        lambda d: pod_of(d)["volumes"].append(
            {"name": "share", "nfs": {"server": "nfs", "path": "/"}}
        ),
        ("{n}: volume share is of type nfs, which restricted does not allow",),
    ),
    ("privilege-escalation", "ok", lambda d: pod_of(d).update(initContainers=[sidecar()]), ()),
    (
        "privilege-escalation",
        "bad",
        lambda d: context(d).pop("allowPrivilegeEscalation"),
        ("{n}/tfserving: allows privilege escalation",),
    ),
    (
        "privilege-escalation",
        "bad-ephemeral",
        lambda d: pod_of(d).update(
            ephemeralContainers=[
                {
                    **debugger(),
                    "securityContext": {
                        **debugger()["securityContext"],
                        "allowPrivilegeEscalation": True,
                    },
                }
            ]
        ),
        ("{n}/debug: allows privilege escalation",),
    ),
    # runAsNonRoot on the pod only is enough.
    ("running-as-non-root", "ok", lambda d: context(d).pop("runAsNonRoot"), ()),
    (
        "running-as-non-root",
        "bad",
        lambda d: context(d).update(runAsNonRoot=False),
        ("{n}/tfserving: may run as root (runAsNonRoot is not true)",),
    ),
    (
        "running-as-non-root",
        "bad-unset",
        lambda d: (
            context(d).pop("runAsNonRoot"),
            pod_of(d)["securityContext"].pop("runAsNonRoot"),
        ),
        ("{n}/tfserving: may run as root (runAsNonRoot is not true)",),
    ),
    (
        "running-as-non-root-user",
        "ok",
        lambda d: pod_of(d)["securityContext"].update(runAsUser=1000.0),
        (),
    ),
    (
        "running-as-non-root-user",
        "bad",
        lambda d: context(d).update(runAsUser=0),
        ("{n}/tfserving: runs as UID 0",),
    ),
    (
        "running-as-non-root-user",
        "bad-float",
        lambda d: pod_of(d)["securityContext"].update(runAsUser=0.0),
        ("{n}: runs as UID 0",),
    ),
    ("restricted-seccomp", "ok", lambda d: context(d).pop("seccompProfile"), ()),
    (
        "restricted-seccomp",
        "bad",
        lambda d: (
            context(d).pop("seccompProfile"),
            pod_of(d)["securityContext"].pop("seccompProfile"),
        ),
        ("{n}/tfserving: has no RuntimeDefault seccomp profile",),
    ),
    (
        "restricted-capabilities",
        "ok",
        lambda d: context(d)["capabilities"].update(drop=["ALL"], add=["NET_BIND_SERVICE"]),
        (),
    ),
    (
        "restricted-capabilities",
        "bad-drop",
        lambda d: context(d).update(capabilities={"drop": ["NET_RAW"]}),
        ("{n}/tfserving: does not drop ALL capabilities",),
    ),
    (
        "restricted-capabilities",
        "bad-add",
        lambda d: context(d)["capabilities"].update(add=["CHOWN"]),
        ("{n}/tfserving: adds capability CHOWN; only NET_BIND_SERVICE may be added",),
    ),
]


def _pss_fixtures() -> list[Fixture]:
    found = []
    for control, suffix, change, expected in PSS_CASES:
        name = f"pss-{control}-{suffix}"
        found.append(
            Fixture(
                "pod-security",
                name,
                DEPLOYMENT,
                changed(name, change),
                tuple(m.format(n=name) for m in expected),
                control=control,
            )
        )
    # A value computed during the update: a critical rule fails closed instead of passing.
    name = "pss-unknown-privileged"
    found.append(
        Fixture(
            "pod-security",
            name,
            DEPLOYMENT,
            changed(name, lambda d: context(d).update(privileged=UNKNOWN)),
            (
                "cannot be verified at preview (string value at .spec.template.spec.containers.0."
                "securityContext.privileged can't be known during preview); failing closed",
            ),
        )
    )
    return found


# --- images ---------------------------------------------------------------------------------------

IMAGE_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("tagged", f"{REGISTRY}/digits:v1-abc", ()),
    ("digest", f"{REGISTRY}/digits@{DIGEST}", ()),
    ("tag-and-digest", f"{REGISTRY}/digits:v1@{DIGEST}", ()),
    (
        "latest",
        f"{REGISTRY}/digits:latest",
        ("{n}/tfserving: image {i} uses the moving tag 'latest'",),
    ),
    ("untagged", f"{REGISTRY}/digits", ("{n}/tfserving: image {i} uses the moving tag 'latest'",)),
    (
        # A registry port is not a tag.
        "port-untagged",
        "registry.local:5000/digits",
        (
            "{n}/tfserving: image {i} is not from an allowed registry",
            "{n}/tfserving: image {i} uses the moving tag 'latest'",
        ),
    ),
    (
        "foreign",
        f"docker.io/someone/model@{DIGEST}",
        ("{n}/tfserving: image {i} is not from an allowed registry",),
    ),
    (
        "unknown",
        UNKNOWN,
        (
            "cannot be verified at preview (string value at .spec.template.spec.containers.0."
            "image can't be known during preview); failing closed",
        ),
    ),
]
DIGEST_REQUIRED_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("required-digest", f"{REGISTRY}/digits@{DIGEST}", ()),
    (
        "required-tagged",
        f"{REGISTRY}/digits:v1-abc",
        ("{n}/tfserving: image {i} is not pinned by digest, which this stack requires",),
    ),
]


def _set_image(image: str) -> Change:
    return lambda props: main(props).update(image=image)


def _image_fixtures(cases: list[tuple[str, str, tuple[str, ...]]]) -> list[Fixture]:
    found = []
    for suffix, image, expected in cases:
        name = f"image-{suffix}"
        found.append(
            Fixture(
                "image-provenance",
                name,
                DEPLOYMENT,
                changed(name, _set_image(image)),
                tuple(m.format(n=name, i=image) for m in expected),
            )
        )
    return found


def _init_image_fixture() -> Fixture:
    name = "image-bad-init"
    return Fixture(
        "image-provenance",
        name,
        DEPLOYMENT,
        changed(
            name, lambda d: pod_of(d).update(initContainers=[{**sidecar(), "image": "busybox"}])
        ),
        (
            f"{name}/warmup: image busybox is not from an allowed registry",
            f"{name}/warmup: image busybox uses the moving tag 'latest'",
        ),
    )


# --- resources, GPUs, placement -------------------------------------------------------------------

RESOURCE_CASES: list[tuple[str, str, Change, tuple[str, ...]]] = [
    (
        "container-resources",
        "ok-numbers",
        lambda d: main(d)["resources"].update(
            requests={"cpu": 1.0, "memory": "2Gi", GPU_RESOURCE: 1},
            limits={"cpu": 2, "memory": "2Gi", GPU_RESOURCE: "1"},
        ),
        (),
    ),
    (
        "container-resources",
        "no-cpu",
        lambda d: main(d)["resources"]["requests"].pop("cpu"),
        ("{n}/tfserving: no cpu request",),
    ),
    (
        "container-resources",
        "no-memory-limit",
        lambda d: main(d)["resources"]["limits"].pop("memory"),
        ("{n}/tfserving: no memory limit",),
    ),
    (
        "container-resources",
        "over-ceiling",
        lambda d: main(d)["resources"].update(
            requests={"cpu": 20.0, "memory": "100Gi"}, limits={"cpu": 20.0, "memory": "100Gi"}
        ),
        (
            "{n}/tfserving: cpu limit 20 is over the ceiling 16",
            "{n}/tfserving: memory limit 100Gi is over the ceiling 64Gi",
        ),
    ),
    (
        "container-resources",
        "ratio",
        lambda d: main(d)["resources"]["limits"].update(cpu="4"),
        ("{n}/tfserving: cpu limit is 4x its request, more than 2x",),
    ),
    (
        "container-resources",
        "init-no-requests",
        lambda d: pod_of(d).update(initContainers=[{**sidecar(), "resources": {}}]),
        (
            "{n}/warmup: no cpu request",
            "{n}/warmup: no memory request",
            "{n}/warmup: no memory limit",
        ),
    ),
    (
        "container-resources",
        "unknown-memory",
        lambda d: main(d)["resources"]["limits"].update(memory=UNKNOWN),
        (
            "cannot be verified at preview (string value at .spec.template.spec.containers.0."
            "resources.limits.memory can't be known during preview); failing closed",
        ),
    ),
    (
        "gpu-resources",
        "ok-int-and-string",
        lambda d: main(d)["resources"]["requests"].update({GPU_RESOURCE: 1}),
        (),
    ),
    (
        "gpu-resources",
        "no-limit",
        lambda d: main(d)["resources"]["limits"].pop(GPU_RESOURCE),
        (f"{{n}}/tfserving: requests {GPU_RESOURCE} without a limit",),
    ),
    (
        "gpu-resources",
        "differs",
        lambda d: main(d)["resources"]["requests"].update({GPU_RESOURCE: 2.0}),
        (f"{{n}}/tfserving: {GPU_RESOURCE} request 2 differs from its limit 1",),
    ),
    (
        "gpu-resources",
        "too-many",
        lambda d: (
            main(d)["resources"]["requests"].update({GPU_RESOURCE: 2}),
            main(d)["resources"]["limits"].update({GPU_RESOURCE: 2.0}),
        ),
        ("{n}: 2 GPUs per pod, more than 1",),
    ),
    (
        "gpu-placement",
        "no-affinity",
        lambda d: pod_of(d).pop("affinity"),
        ("{n}: asks for GPUs but does not select GPU nodes (gpu-model-platform/gpu-type)",),
    ),
    (
        "gpu-placement",
        "no-toleration",
        lambda d: pod_of(d).pop("tolerations"),
        ("{n}: asks for GPUs but does not tolerate the nvidia.com/gpu taint",),
    ),
    (
        "read-only-root-filesystem",
        "writable",
        lambda d: context(d).update(readOnlyRootFilesystem=False),
        ("{n}/tfserving: root filesystem is writable",),
    ),
    (
        "read-only-root-filesystem",
        "ok-init",
        lambda d: pod_of(d).update(initContainers=[sidecar()]),
        (),
    ),
    (
        "service-account-token",
        "mounted",
        lambda d: pod_of(d).pop("automountServiceAccountToken"),
        ("{n}: mounts a service-account token (set automountServiceAccountToken false)",),
    ),
    (
        "probes",
        "no-readiness",
        lambda d: main(d).pop("readinessProbe"),
        ("{n}/tfserving: no readinessProbe",),
    ),
    (
        "probes",
        "no-liveness",
        lambda d: main(d).pop("livenessProbe"),
        ("{n}/tfserving: no livenessProbe",),
    ),
    (
        "topology-spread",
        "none",
        lambda d: pod_of(d).pop("topologySpreadConstraints"),
        ("{n}: no topologySpreadConstraints; replicas may share one node",),
    ),
    (
        "topology-spread",
        "few-replicas",
        lambda d: (pod_of(d).pop("topologySpreadConstraints"), d["spec"].update(replicas=2.0)),
        (),
    ),
]


def _resource_fixtures() -> list[Fixture]:
    found = []
    for rule, suffix, change, expected in RESOURCE_CASES:
        name = f"{rule}-{suffix}"
        found.append(
            Fixture(
                rule,
                name,
                DEPLOYMENT,
                changed(name, change),
                tuple(m.format(n=name) for m in expected),
            )
        )
    # A GPU quota too tight for the fixtures' GPU pods: gpu-quota's stack verdict, both ways.
    quota = "kubernetes:core/v1:ResourceQuota"
    found.append(
        Fixture(
            "gpu-quota",
            "gpu-quota-tight",
            quota,
            {
                **_api(quota),
                "metadata": {"name": "gpu-quota-tight", "namespace": "models"},
                "spec": {"hard": {f"requests.{GPU_RESOURCE}": "2"}},
            },
            (),
        )
    )
    name = "gpu-placement-cpu-ok"
    found.append(Fixture("gpu-placement", name, DEPLOYMENT, deployment(name, "iris"), ()))
    # Jobs run to completion: no probes needed.
    name = "probes-job-ok"
    job = changed(name, lambda d: (main(d).pop("readinessProbe"), main(d).pop("livenessProbe")))
    found.append(
        Fixture(
            "probes", name, "kubernetes:batch/v1:Job", as_kind("kubernetes:batch/v1:Job", job), ()
        )
    )
    account = "kubernetes:core/v1:ServiceAccount"
    for name, automount, expected in (
        ("sa-ok", False, ()),
        (
            "sa-mounts",
            None,
            (
                "sa-mounts: service account mounts its token into every pod "
                "(set automountServiceAccountToken false)",
            ),
        ),
    ):
        props: dict[str, Any] = {**_api(account), "metadata": {"name": name, "namespace": "models"}}
        if automount is not None:
            props["automountServiceAccountToken"] = automount
        found.append(Fixture("service-account-token", name, account, props, expected))
    name = "gpu-placement-cpu-on-gpu-nodes"
    props = deployment(name, "iris")
    pod_of(props)["tolerations"] = [
        {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
    ]
    found.append(
        Fixture(
            "gpu-placement",
            name,
            DEPLOYMENT,
            props,
            (f"{name}: asks for no GPU but may land on GPU nodes; they are kept for GPU pods",),
        )
    )
    return found


# --- every workload kind --------------------------------------------------------------------------


def _workload_fixtures() -> list[Fixture]:
    """Each kind with a pod template, compliant, then with a violation every pod rule must see."""
    found = []
    kinds = [*WORKLOAD_KINDS, POD]
    for kind in kinds:
        short = kind.rsplit(":", 1)[-1].lower()
        name = f"kind-{short}-ok"
        found.append(Fixture("pod-security", name, kind, as_kind(kind, deployment(name)), ()))
        name = f"kind-{short}-privileged"
        found.append(
            Fixture(
                "pod-security",
                name,
                kind,
                as_kind(kind, changed(name, lambda d: context(d).update(privileged=True))),
                (f"{name}/tfserving: is privileged",),
            )
        )
        name = f"kind-{short}-latest"
        found.append(
            Fixture(
                "image-provenance",
                name,
                kind,
                as_kind(
                    kind, changed(name, lambda d: main(d).update(image=f"{REGISTRY}/digits:latest"))
                ),
                (f"{name}/tfserving: image {REGISTRY}/digits:latest uses the moving tag 'latest'",),
            )
        )
        name = f"kind-{short}-no-memory-limit"
        found.append(
            Fixture(
                "container-resources",
                name,
                kind,
                as_kind(
                    kind, changed(name, lambda d: main(d)["resources"]["limits"].pop("memory"))
                ),
                (f"{name}/tfserving: no memory limit",),
            )
        )
        name = f"kind-{short}-gpu-untolerated"
        found.append(
            Fixture(
                "gpu-placement",
                name,
                kind,
                as_kind(kind, changed(name, lambda d: pod_of(d).pop("tolerations"))),
                (f"{name}: asks for GPUs but does not tolerate the nvidia.com/gpu taint",),
            )
        )
    return found


# --- availability and exposure --------------------------------------------------------------------


def _hpa(name: str, **spec: Any) -> dict[str, Any]:
    # digits scales through KEDA; on CPU it gets the HorizontalPodAutoscaler these fixtures need.
    model = spec_of("digits", autoscaling={"metric": "cpu", "target": 70})
    (track,) = serving.tracks(model, {v: "x" for v in model.served_versions})
    props = copy.deepcopy(serving.horizontal_pod_autoscaler(model, track, "models"))
    props["metadata"]["name"] = name
    props["spec"].update(spec)
    return {**_api(HPA), **props}


def _pdb(name: str, **spec: Any) -> dict[str, Any]:
    return {**_api(PDB), "metadata": {"name": name, "namespace": "models"}, "spec": spec}


def _service(name: str, **spec: Any) -> dict[str, Any]:
    props = copy.deepcopy(serving.service(spec_of("iris"), "models"))
    props["metadata"]["name"] = name
    props["spec"].update(spec)
    return {**_api(SERVICE), **props}


SELECTOR = {"matchLabels": {"app": "x"}}


def _availability_fixtures() -> list[Fixture]:
    return [
        Fixture(
            "autoscaler-bounds",
            "hpa-ok-floats",
            HPA,
            _hpa("hpa-ok-floats", minReplicas=2.0, maxReplicas=4.0),
            (),
        ),
        Fixture(
            "autoscaler-bounds",
            "hpa-over-ceiling",
            HPA,
            _hpa("hpa-over-ceiling", minReplicas=5, maxReplicas=80.0),
            ("hpa-over-ceiling: maxReplicas 80 is above the ceiling 50",),
        ),
        Fixture(
            "autoscaler-bounds",
            "hpa-inverted",
            HPA,
            _hpa("hpa-inverted", minReplicas=9.0, maxReplicas=4, metrics=[]),
            (
                "hpa-inverted: minReplicas 9 is above maxReplicas 4",
                "hpa-inverted: has no metrics to scale on",
            ),
        ),
        Fixture(
            "disruption-budget",
            "pdb-ok-int",
            PDB,
            _pdb("pdb-ok-int", minAvailable=1, selector=SELECTOR),
            (),
        ),
        Fixture(
            "disruption-budget",
            "pdb-ok-percent",
            PDB,
            _pdb("pdb-ok-percent", maxUnavailable="25%", selector=SELECTOR),
            (),
        ),
        Fixture(
            "disruption-budget",
            "pdb-zero-int",
            PDB,
            _pdb("pdb-zero-int", maxUnavailable=0, selector=SELECTOR),
            ("pdb-zero-int: maxUnavailable 0 blocks every node drain",),
        ),
        Fixture(
            "disruption-budget",
            "pdb-zero-float",
            PDB,
            _pdb("pdb-zero-float", maxUnavailable=0.0, selector=SELECTOR),
            ("pdb-zero-float: maxUnavailable 0 blocks every node drain",),
        ),
        Fixture(
            "disruption-budget",
            "pdb-zero-percent",
            PDB,
            _pdb("pdb-zero-percent", maxUnavailable="0%", selector=SELECTOR),
            ("pdb-zero-percent: maxUnavailable 0 blocks every node drain",),
        ),
        Fixture(
            "disruption-budget",
            "pdb-all",
            PDB,
            _pdb("pdb-all", minAvailable="100%", selector=SELECTOR),
            ("pdb-all: minAvailable 100% blocks every node drain",),
        ),
        Fixture(
            "disruption-budget",
            "pdb-neither",
            PDB,
            _pdb("pdb-neither", selector=SELECTOR),
            ("pdb-neither: sets neither minAvailable nor maxUnavailable",),
        ),
        Fixture(
            "disruption-budget",
            "pdb-no-selector",
            PDB,
            _pdb("pdb-no-selector", minAvailable=1, selector={}),
            ("pdb-no-selector: selects no pods",),
        ),
        Fixture("service-exposure", "svc-ok", SERVICE, _service("svc-ok"), ()),
        Fixture(
            "service-exposure",
            "svc-exposed",
            SERVICE,
            _service("svc-exposed", type="LoadBalancer", externalIPs=["203.0.113.7"]),
            (
                "svc-exposed: type LoadBalancer exposes it outside the cluster",
                "svc-exposed: has externalIPs",
            ),
        ),
    ]


# --- AWS (the engine sees them as components: the AWS provider cannot run here) -------------------

ECR = "aws:ecr/repository:Repository"
EKS = "aws:eks/cluster:Cluster"


def _ecr(**changes: Any) -> dict[str, Any]:
    return {
        "name": "gpu-model-platform/iris",
        "imageScanningConfiguration": {"scanOnPush": True},
        "imageTagMutability": "IMMUTABLE",
        "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": "arn:aws:kms:key"}],
        **changes,
    }


def _eks(**changes: Any) -> dict[str, Any]:
    return {
        "name": "gpu-prod",
        "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:key"}},
        "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager"],
        **changes,
    }


def _aws_fixtures() -> list[Fixture]:
    return [
        Fixture("ecr-repository", "ecr-ok", ECR, _ecr(), (), protect=True),
        Fixture(
            "ecr-repository",
            "ecr-weak",
            ECR,
            _ecr(
                imageScanningConfiguration={"scanOnPush": False},
                imageTagMutability="MUTABLE",
                encryptionConfigurations=[{"encryptionType": "AES256"}],
            ),
            (
                "gpu-model-platform/iris: images are not scanned on push",
                "gpu-model-platform/iris: tags are mutable; a pushed tag could be moved",
                "gpu-model-platform/iris: not encrypted with a KMS key",
            ),
            protect=True,
        ),
        Fixture("eks-cluster", "eks-ok", EKS, _eks(), (), protect=True),
        Fixture(
            "eks-cluster",
            "eks-open",
            EKS,
            _eks(
                vpcConfig={"endpointPublicAccess": True},
                encryptionConfig=None,
                enabledClusterLogTypes=["api"],
            ),
            (
                "gpu-prod: the API endpoint is public to 0.0.0.0/0",
                "gpu-prod: secrets are not envelope-encrypted with a KMS key",
                "gpu-prod: control-plane logs off: audit, authenticator",
            ),
            protect=True,
        ),
        Fixture("protect-critical", "eks-protected", EKS, _eks(), (), protect=True),
        Fixture(
            "protect-critical",
            "ecr-unprotected",
            ECR,
            _ecr(),
            (f"{ECR} is not protected: a stray `pulumi destroy` would delete it",),
        ),
    ]


# --- platform objects: RBAC, exposure, namespaces, secrets, pull policy ---------------------------

ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
NAMESPACE = "kubernetes:core/v1:Namespace"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def _object(
    resource_type: str, name: str, namespace: str | None = "models", **body: Any
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {**_api(resource_type), "metadata": metadata, **body}


def _platform_fixtures() -> list[Fixture]:
    from components.target.namespaces import namespace_metadata

    found = [
        Fixture(
            "image-pull-policy",
            "pull-ok",
            DEPLOYMENT,
            changed("pull-ok", lambda d: main(d).update(imagePullPolicy="IfNotPresent")),
            (),
        ),
        Fixture(
            "image-pull-policy",
            "pull-never",
            DEPLOYMENT,
            changed("pull-never", lambda d: main(d).update(imagePullPolicy="Never")),
            ("pull-never/tfserving: imagePullPolicy Never is not one of Always, IfNotPresent",),
        ),
        Fixture(
            "secret-env",
            "env-ok",
            DEPLOYMENT,
            changed(
                "env-ok",
                lambda d: main(d).update(
                    env=[
                        {
                            "name": "MODE",
                            "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}},
                        }
                    ]
                ),
            ),
            (),
        ),
        Fixture(
            "secret-env",
            "env-secret",
            DEPLOYMENT,
            changed(
                "env-secret",
                lambda d: main(d).update(
                    env=[
                        {
                            "name": "TOKEN",
                            "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}},
                        }
                    ],
                    envFrom=[{"secretRef": {"name": "all"}}],
                ),
            ),
            (
                "env-secret/tfserving: env TOKEN comes from secret api",
                "env-secret/tfserving: takes every key of secret all as env",
            ),
        ),
        Fixture(
            "rbac-scope",
            "role-ok",
            ROLE,
            _object(
                ROLE,
                "role-ok",
                rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "watch"]}],
            ),
            (),
        ),
        Fixture(
            "rbac-scope",
            "role-broad",
            ROLE,
            _object(
                ROLE,
                "role-broad",
                rules=[
                    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]},
                ],
            ),
            (
                "role-broad: rule 0 grants every apiGroup (*)",
                "role-broad: rule 0 grants every resource (*)",
                "role-broad: rule 0 grants *",
                "role-broad: rule 1 reads secrets",
            ),
        ),
        Fixture(
            "rbac-scope",
            "binding-ok",
            ROLE_BINDING,
            _object(
                ROLE_BINDING,
                "binding-ok",
                roleRef={
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "role-ok",
                },
                subjects=[
                    {"kind": "ServiceAccount", "name": "digits-serving", "namespace": "models"}
                ],
            ),
            (),
        ),
        Fixture(
            "rbac-scope",
            "binding-admin",
            CLUSTER_ROLE_BINDING,
            _object(
                CLUSTER_ROLE_BINDING,
                "binding-admin",
                None,
                roleRef={
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                subjects=[
                    {
                        "kind": "Group",
                        "name": "system:authenticated",
                        "apiGroup": "rbac.authorization.k8s.io",
                    }
                ],
            ),
            (
                "binding-admin: binds the built-in cluster-admin role",
                "binding-admin: binds system:authenticated, which is everyone",
            ),
        ),
        Fixture(
            "ingress-exposure",
            "ingress-ok",
            INGRESS,
            _object(
                INGRESS,
                "ingress-ok",
                spec={
                    "ingressClassName": "platform",
                    "tls": [{"hosts": ["iris.models.example.com"], "secretName": "iris-tls"}],
                    "rules": [
                        {
                            "host": "iris.models.example.com",
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {
                                            "service": {
                                                "name": "iris-serving",
                                                "port": {"number": 8501},
                                            }
                                        },
                                    }
                                ]
                            },
                        }
                    ],
                },
            ),
            (),
        ),
        Fixture(
            "ingress-exposure",
            "ingress-open",
            INGRESS,
            _object(
                INGRESS,
                "ingress-open",
                spec={
                    "ingressClassName": "nginx",
                    "rules": [
                        {
                            "host": "iris.models.example.com",
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {
                                            "service": {
                                                "name": "iris-serving",
                                                "port": {"number": 8501},
                                            }
                                        },
                                    }
                                ]
                            },
                        },
                        {
                            "host": "*.example.com",
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {
                                            "service": {
                                                "name": "iris-serving",
                                                "port": {"number": 8501},
                                            }
                                        },
                                    }
                                ]
                            },
                        },
                    ],
                },
            ),
            (
                "ingress-open: ingress class nginx is not allowed",
                "ingress-open: host iris.models.example.com is served without TLS",
                "ingress-open: wildcard host *.example.com",
            ),
        ),
        Fixture(
            "ingress-exposure",
            "gateway-ok",
            GATEWAY,
            _object(
                GATEWAY,
                "gateway-ok",
                spec={
                    "gatewayClassName": "platform",
                    "listeners": [
                        {
                            "name": "https",
                            "protocol": "HTTPS",
                            "port": 443,
                            "hostname": "models.example.com",
                        }
                    ],
                },
            ),
            (),
        ),
        Fixture(
            "ingress-exposure",
            "gateway-http",
            GATEWAY,
            _object(
                GATEWAY,
                "gateway-http",
                spec={
                    "gatewayClassName": "platform",
                    "listeners": [{"name": "web", "protocol": "HTTP", "port": 80.0}],
                },
            ),
            (
                "gateway-http: listener web is HTTP, not TLS",
                "gateway-http: listener web answers for every host",
            ),
        ),
        Fixture(
            "namespace-pod-security",
            "ns-ok",
            NAMESPACE,
            {**_api(NAMESPACE), "metadata": namespace_metadata("ns-ok", "models", "local")},
            (),
        ),
        Fixture(
            "namespace-pod-security",
            "ns-baseline",
            NAMESPACE,
            {
                **_api(NAMESPACE),
                "metadata": {
                    "name": "ns-baseline",
                    "labels": {
                        "pod-security.kubernetes.io/enforce": "baseline",
                        "pod-security.kubernetes.io/audit": "restricted",
                    },
                },
            },
            (
                "ns-baseline: Pod Security enforce is baseline, not restricted",
                "ns-baseline: Pod Security warn is unset, not restricted",
            ),
        ),
        Fixture(
            "default-namespace",
            "cm-ok",
            CONFIG_MAP,
            _object(CONFIG_MAP, "cm-ok", data={"a": "b"}),
            (),
        ),
        Fixture(
            "default-namespace",
            "cm-default",
            CONFIG_MAP,
            _object(CONFIG_MAP, "cm-default", "default", data={"a": "b"}),
            ("cm-default: in the default namespace",),
        ),
        Fixture(
            "default-namespace",
            "cm-no-namespace",
            CONFIG_MAP,
            _object(CONFIG_MAP, "cm-no-namespace", None, data={"a": "b"}),
            ("cm-no-namespace: no namespace, so it lands in the provider's default",),
        ),
    ]
    return found


NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def _gpu_node_fixtures() -> list[Fixture]:
    """Stack rules' family: GPU workloads, node groups (as components), a GPU quota."""

    def group(name: str, gpu_type: str) -> dict[str, Any]:
        return {
            "instanceTypes": ["g6.xlarge"],
            "scalingConfig": {"maxSize": 2.0},
            "labels": {"gpu-model-platform/gpu-type": gpu_type},
        }

    def types(values: list[str]) -> Change:
        return lambda d: pod_of(d)["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]["nodeSelectorTerms"][0]["matchExpressions"][1].update(values=values)

    quota = "kubernetes:core/v1:ResourceQuota"
    return [
        Fixture("gpu-node-match", "node-group-l4", NODE_GROUP, group("l4", "l4"), ()),
        Fixture(
            "gpu-node-match", "gpus-on-l4", DEPLOYMENT, changed("gpus-on-l4", types(["l4"])), ()
        ),
        Fixture(
            "gpu-node-match",
            "gpus-on-h100",
            DEPLOYMENT,
            changed("gpus-on-h100", types(["h100", "tpu"])),
            ("gpus-on-h100: selects unknown GPU types tpu",),
        ),
        Fixture(
            "gpu-quota",
            "models-gpu-quota",
            quota,
            {
                **_object(quota, "models-gpu-quota"),
                "spec": {"hard": {f"requests.{GPU_RESOURCE}": 1.0}},
            },
            (),
        ),
    ]


def _rollout_fixtures() -> list[Fixture]:
    """rollout-feasibility's family, on 2 GPUs (its gpuCapacity): each Deployment keeps 2 pods of
    1 GPU (replicas as the engine delivers them, a float). Alone, the surging one stalls and the
    replacing one fits; together they hold 4 of 2 GPUs, so the surging one stalls still."""

    def replicas(strategy: dict[str, object]) -> Change:
        def change(props: dict[str, Any]) -> None:
            props["spec"]["replicas"] = 2.0
            props["spec"]["strategy"]["rollingUpdate"] = strategy

        return change

    return [
        Fixture(
            "rollout-feasibility",
            "rollout-surge-full",
            DEPLOYMENT,
            changed("rollout-surge-full", replicas({"maxUnavailable": 0.0, "maxSurge": "25%"})),
            (
                ROLLOUT_STALL.format(
                    name="rollout-surge-full", holders="rollout-surge-full 2x1 = 2"
                ),
            ),
        ),
        Fixture(
            "rollout-feasibility",
            "rollout-replace-full",
            DEPLOYMENT,
            changed("rollout-replace-full", replicas({"maxUnavailable": 1.0, "maxSurge": 0.0})),
            (),
        ),
    ]


ROLLOUT_STALL = (
    "{name}: its rollout will stall: it needs 1 surge pod x 1 GPU = 1 GPU beyond what the GPU "
    "workloads hold at min replicas ({holders}), and 0 of the 2 GPUs are free; the new pods would "
    "stay Pending (remedy: `rollout.strategy: replace` in its model.yaml, or more GPUs)"
)


FAMILIES: list[Family] = [
    Family("pod-security", _pss_fixtures()),
    Family("images", [*_image_fixtures(IMAGE_CASES), _init_image_fixture()]),
    Family(
        "images-digest-required",
        _image_fixtures(DIGEST_REQUIRED_CASES),
        {"image-provenance": {"requireDigest": True}},
    ),
    Family("resources", _resource_fixtures()),
    Family("workload-kinds", _workload_fixtures()),
    Family("availability", _availability_fixtures()),
    Family("aws", _aws_fixtures()),
    Family("platform-objects", _platform_fixtures()),
    Family("gpu-nodes", _gpu_node_fixtures()),
    Family("rollouts", _rollout_fixtures(), {"rollout-feasibility": {"gpuCapacity": 2}}),
]


def all_fixtures() -> Iterator[tuple[Family, Fixture]]:
    for family in FAMILIES:
        for fixture in family.fixtures:
            yield family, fixture


class _StackResource:
    def __init__(self, fixture: Fixture, urn: str) -> None:
        self.resource_type = fixture.resource_type
        self.props = unknown_checking_proxy(copy.deepcopy(fixture.props))
        self.urn = urn


class _StackArgs:
    def __init__(self, resources: list[_StackResource], config: dict[str, Any]) -> None:
        self.resources = resources
        self._config = config

    def get_config(self) -> dict[str, Any]:
        return self._config


def direct_stack_verdict(
    rule: Rule, fixtures: list[tuple[Fixture, str]], pack_config: Mapping[str, Any]
) -> list[tuple[str, str | None]]:
    """A stack rule's (message, urn) pairs over (fixture, urn) resources, as the engine runs it."""
    found: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append((message, urn))

    resources = [_StackResource(fixture, urn) for fixture, urn in fixtures]
    try:
        rule._validate_stack(_StackArgs(resources, given(rule, pack_config)), report)  # type: ignore[arg-type]
    except UnknownValueError:
        return []
    return found
