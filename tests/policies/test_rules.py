"""Each rule: the platform's own objects comply, and each violating change gets its exact message.

The baseline objects are what ModelService really builds (components/serving/builders.py), so a
rule that refused them, or a builder that drifted from a rule, fails here."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from components.facts.gpu import GPU_RESOURCE, gpus_per_instance
from components.serving import builders as serving
from policies.docs import enforcement, environment_config, render
from policies.rules import ALL
from policies.rules.aws import ecr_repository, eks_cluster, protect_critical
from policies.rules.kubernetes import (
    autoscaler_bounds,
    container_resources,
    disruption_budget,
    gpu_budget,
    gpu_placement,
    gpu_resources,
    image_provenance,
    pod_security,
    probes,
    read_only_root,
    rollout_feasibility,
    service_account_token,
    service_exposure,
    serving_completeness,
    topology_spread,
)
from policies.support import Rule
from tests.support.mocks import ROOT
from tests.support.specs import SCALED_OBJECT, autoscaler_of, spec_of, stack_of, startup_of

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
REGISTRY = "registry.local:5000/gpu-model-platform"
LOCAL_CONFIG = {
    "allowedRegistries": [REGISTRY],
    "immutableTagRegistries": [REGISTRY],
}


def deployment(model: str = "digits") -> dict[str, Any]:
    spec = spec_of(model)
    (track,) = serving.tracks(
        spec, {v: f"{REGISTRY}/{model}:v{v}-abc" for v in spec.served_versions}, startup_of(spec)
    )
    return copy.deepcopy(serving.deployment(spec, track, "models", "cfg"))


def autoscaler(model: str) -> dict[str, Any]:
    """iris: its HPA (cpu); digits: its ScaledObject (requests, through KEDA)."""
    spec = spec_of(model)
    (track,) = serving.tracks(spec, {v: "x" for v in spec.served_versions}, startup_of(spec))
    return copy.deepcopy(autoscaler_of(spec, track)[1])


def container(props: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = props["spec"]["template"]["spec"]["containers"][0]
    return result


def pod(props: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = props["spec"]["template"]["spec"]
    return result


def run(rule: Rule, resource_type: str, props: dict[str, Any], **config: Any) -> list[str]:
    protected = (True,) if rule.reads_protect else ()
    return rule.check(
        resource_type, props, {**rule.defaults(), **LOCAL_CONFIG, **config}, *protected
    )


@pytest.mark.parametrize("rule", [r for r in ALL if not r.stack_level], ids=lambda r: r.name)
@pytest.mark.parametrize("model", ["iris", "digits"])
def test_the_platforms_own_objects_comply(rule: Rule, model: str) -> None:
    spec = spec_of(model)
    (track,) = serving.tracks(
        spec, {v: f"{REGISTRY}/{model}:v{v}-abc" for v in spec.served_versions}, startup_of(spec)
    )
    objects = [
        (DEPLOYMENT, serving.deployment(spec, track, "models", "cfg")),
        autoscaler_of(spec, track),
        ("kubernetes:core/v1:Service", serving.service(spec, "models")),
        ("kubernetes:policy/v1:PodDisruptionBudget", serving.pod_disruption_budget(spec, "models")),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", serving.network_policy(spec, "models")),
    ]
    for resource_type, props in objects:
        assert props is not None
        assert run(rule, resource_type, props) == [], (rule.name, resource_type)


def test_every_rule_documents_itself() -> None:
    names = [rule.name for rule in ALL]
    assert len(set(names)) == len(names)
    for rule in ALL:
        assert rule.name == rule.name.lower() and " " not in rule.name
        assert rule.description and rule.why and rule.remediation, rule.name
        for key, spec in rule.config.items():
            assert {"type", "default", "description"} <= spec.keys(), (rule.name, key)


Mutation = Callable[[dict[str, Any]], object]
CASES: list[tuple[Rule, Mutation, str]] = [
    (
        container_resources.RULE,
        lambda d: container(d)["resources"]["requests"].pop("cpu"),
        "digits-stable/tfserving: no cpu request",
    ),
    (
        container_resources.RULE,
        lambda d: container(d)["resources"]["limits"].pop("memory"),
        "digits-stable/tfserving: no memory limit",
    ),
    (
        container_resources.RULE,
        lambda d: container(d)["resources"].update(
            requests={"cpu": "1", "memory": "100Gi"}, limits={"memory": "100Gi"}
        ),
        "digits-stable/tfserving: memory limit 100Gi is over the ceiling 64Gi",
    ),
    (
        container_resources.RULE,
        lambda d: container(d)["resources"]["limits"].update(cpu="4"),
        "digits-stable/tfserving: cpu limit is 4x its request, more than 2x",
    ),
    (
        gpu_resources.RULE,
        lambda d: container(d)["resources"]["limits"].pop(GPU_RESOURCE),
        f"digits-stable/tfserving: requests {GPU_RESOURCE} without a limit",
    ),
    (
        gpu_resources.RULE,
        lambda d: container(d)["resources"]["requests"].update({GPU_RESOURCE: "2"}),
        f"digits-stable/tfserving: {GPU_RESOURCE} request 2 differs from its limit 1",
    ),
    (
        gpu_resources.RULE,
        lambda d: (
            container(d)["resources"]["requests"].update({GPU_RESOURCE: "2"}),
            container(d)["resources"]["limits"].update({GPU_RESOURCE: "2"}),
        ),
        "digits-stable: 2 GPUs per pod, more than 1",
    ),
    (
        gpu_placement.RULE,
        lambda d: pod(d).pop("affinity"),
        "digits-stable: asks for GPUs but does not select GPU nodes (gpu-model-platform/gpu-type)",
    ),
    (
        gpu_placement.RULE,
        lambda d: pod(d).pop("tolerations"),
        "digits-stable: asks for GPUs but does not tolerate the nvidia.com/gpu taint",
    ),
    (
        image_provenance.RULE,
        lambda d: container(d).update(image=f"docker.io/someone/model@sha256:{'0' * 64}"),
        f"digits-stable/tfserving: image docker.io/someone/model@sha256:{'0' * 64} is not from an "
        "allowed registry",
    ),
    (
        image_provenance.RULE,
        lambda d: container(d).update(image=f"{REGISTRY}/digits:latest"),
        f"digits-stable/tfserving: image {REGISTRY}/digits:latest uses the moving tag 'latest'",
    ),
    (
        pod_security.RULE,
        lambda d: container(d)["securityContext"].update(allowPrivilegeEscalation=True),
        "digits-stable/tfserving: allows privilege escalation",
    ),
    (
        read_only_root.RULE,
        lambda d: container(d)["securityContext"].update(readOnlyRootFilesystem=False),
        "digits-stable/tfserving: root filesystem is writable",
    ),
    (
        pod_security.RULE,
        lambda d: container(d)["securityContext"].update(capabilities={"drop": ["NET_RAW"]}),
        "digits-stable/tfserving: does not drop ALL capabilities",
    ),
    (
        pod_security.RULE,
        lambda d: (
            container(d)["securityContext"].pop("runAsNonRoot"),
            pod(d)["securityContext"].pop("runAsNonRoot"),
        ),
        "digits-stable/tfserving: may run as root (runAsNonRoot is not true)",
    ),
    (
        pod_security.RULE,
        lambda d: (
            container(d)["securityContext"].pop("seccompProfile"),
            pod(d)["securityContext"].pop("seccompProfile"),
        ),
        "digits-stable/tfserving: has no RuntimeDefault seccomp profile",
    ),
    (
        pod_security.RULE,
        lambda d: pod(d).update(hostNetwork=True),
        "digits-stable: uses the host's network namespace",
    ),
    (
        pod_security.RULE,
        lambda d: pod(d)["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run"}}),
        "digits-stable: mounts hostPath volume docker",
    ),
    (
        service_account_token.RULE,
        lambda d: pod(d).pop("automountServiceAccountToken"),
        "digits-stable: mounts a service-account token (set automountServiceAccountToken false)",
    ),
    (
        pod_security.RULE,
        lambda d: container(d)["ports"][0].update(hostPort=8501),
        "digits-stable/tfserving: binds host port 8501",
    ),
    (
        probes.RULE,
        lambda d: container(d).pop("readinessProbe"),
        "digits-stable/tfserving: no readinessProbe",
    ),
    (
        probes.RULE,
        lambda d: container(d).pop("livenessProbe"),
        "digits-stable/tfserving: no livenessProbe",
    ),
    (
        topology_spread.RULE,
        lambda d: pod(d).pop("topologySpreadConstraints"),
        "digits-stable: no topologySpreadConstraints; replicas may share one node",
    ),
]


@pytest.mark.parametrize(("rule", "mutate", "message"), CASES, ids=[c[2] for c in CASES])
def test_one_violating_change_gives_its_exact_message(
    rule: Rule, mutate: Mutation, message: str
) -> None:
    props = deployment()
    mutate(props)
    assert run(rule, DEPLOYMENT, props) == [message]


def test_a_cpu_pod_that_tolerates_gpu_nodes_is_refused() -> None:
    props = deployment("iris")
    pod(props)["tolerations"] = [
        {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert run(gpu_placement.RULE, DEPLOYMENT, props) == [
        "iris-stable: asks for no GPU but may land on GPU nodes; they are kept for GPU pods"
    ]


def test_a_digest_pinned_image_needs_no_immutable_registry() -> None:
    props = deployment()
    container(props)["image"] = f"{REGISTRY}/digits@sha256:{'0' * 64}"
    assert run(image_provenance.RULE, DEPLOYMENT, props, immutableTagRegistries=[]) == []
    container(props)["image"] = f"{REGISTRY}/digits:v1"
    assert run(image_provenance.RULE, DEPLOYMENT, props, immutableTagRegistries=[]) == [
        f"digits-stable/tfserving: image {REGISTRY}/digits:v1 is neither pinned by digest nor in a "
        "registry with immutable tags"
    ]


def test_registry_allow_list_takes_wildcards() -> None:
    props = deployment()
    container(props)["image"] = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/digits:v1-abc"
    ecr = ["*.dkr.ecr.*.amazonaws.com"]
    assert (
        run(
            image_provenance.RULE,
            DEPLOYMENT,
            props,
            allowedRegistries=ecr,
            immutableTagRegistries=ecr,
        )
        == []
    )


def test_autoscaler_bounds() -> None:
    props = autoscaler("iris")
    props["spec"].update(minReplicas=5, maxReplicas=80)
    assert run(autoscaler_bounds.RULE, HPA, props) == [
        "iris-stable: maxReplicas 80 is above the ceiling 50"
    ]
    props["spec"].update(minReplicas=9, maxReplicas=4, metrics=[])
    assert run(autoscaler_bounds.RULE, HPA, props) == [
        "iris-stable: minReplicas 9 is above maxReplicas 4",
        "iris-stable: has no metrics to scale on",
    ]


def test_autoscaler_bounds_covers_scaled_objects() -> None:
    props = autoscaler("digits")
    assert run(autoscaler_bounds.RULE, SCALED_OBJECT, props) == []
    props["spec"].update(minReplicaCount=9, maxReplicaCount=4, triggers=[])
    assert run(autoscaler_bounds.RULE, SCALED_OBJECT, props) == [
        "digits-stable: minReplicaCount 9 is above maxReplicaCount 4",
        "digits-stable: has no triggers to scale on",
    ]
    # KEDA's own defaults count: no maxReplicaCount is 100, no minReplicaCount is 0.
    unbounded = autoscaler("digits")
    del unbounded["spec"]["maxReplicaCount"], unbounded["spec"]["minReplicaCount"]
    assert run(autoscaler_bounds.RULE, SCALED_OBJECT, unbounded) == [
        "digits-stable: maxReplicaCount 100 is above the ceiling 50 (KEDA's default when unset)",
        "digits-stable: minReplicaCount 0 (scale to zero) without a trigger's activationThreshold:"
        " nothing says what demand wakes it",
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"maxUnavailable": 0, "selector": {"matchLabels": {"a": "b"}}},
            "maxUnavailable 0 blocks every node drain",
        ),
        (
            {"minAvailable": "100%", "selector": {"matchLabels": {"a": "b"}}},
            "minAvailable 100% blocks every node drain",
        ),
        ({"selector": {"matchLabels": {"a": "b"}}}, "sets neither minAvailable nor maxUnavailable"),
        ({"minAvailable": 1, "selector": {}}, "selects no pods"),
    ],
)
def test_disruption_budget(spec: dict[str, Any], message: str) -> None:
    props = {"metadata": {"name": "iris-serving"}, "spec": spec}
    assert run(disruption_budget.RULE, "kubernetes:policy/v1:PodDisruptionBudget", props) == [
        f"iris-serving: {message}"
    ]


def test_service_exposure() -> None:
    service = copy.deepcopy(serving.service(spec_of("iris"), "models"))
    service["spec"].update(type="LoadBalancer", externalIPs=["203.0.113.7"])
    kind = "kubernetes:core/v1:Service"
    assert run(service_exposure.RULE, kind, service) == [
        "iris-serving: type LoadBalancer exposes it outside the cluster",
        "iris-serving: has externalIPs",
    ]
    assert run(service_exposure.RULE, kind, service, allowedServices=["iris-serving"]) == []


def stack(*models: str) -> list[tuple[str, dict[str, Any], str]]:
    return stack_of(*models, services=True)


def test_gpu_budget_counts_peak_replicas_times_gpus() -> None:
    rule = gpu_budget.RULE
    assert rule.check(stack("iris", "digits"), rule.defaults()) == []
    assert rule.check(stack("digits"), {**rule.defaults(), "gpuBudget": 3}) == [
        ("GPUs at peak replicas (digits-stable 4x1 = 4) exceed the stack's GPU budget (3)", None)
    ]
    assert rule.check(stack("digits"), {**rule.defaults(), "gpuCapacity": 2}) == [
        (
            "GPUs at peak replicas (digits-stable 4x1 = 4) exceed the GPU capacity of its node "
            "groups (2)",
            None,
        )
    ]


def test_rollout_feasibility_counts_surge_pods_against_the_gpus_left_free() -> None:
    rule = rollout_feasibility.RULE
    # Capacity unknown (render mode, no node groups): nothing to check against.
    assert rule.check(stack("iris", "digits"), rule.defaults()) == []
    # digits holds 2 GPUs at min replicas; its surge pod needs a third.
    assert rule.check(stack("iris", "digits"), {"gpuCapacity": 3}) == []
    assert rule.check(stack("iris", "digits"), {"gpuCapacity": 2}) == [
        (
            "digits-stable: its rollout will stall: it needs 1 surge pod x 1 GPU = 1 GPU beyond "
            "what the GPU workloads hold at min replicas (digits-stable 2x1 = 2), and 0 of the 2 "
            "GPUs are free; the new pods would stay Pending (remedy: `rollout.strategy: replace` "
            "in its model.yaml, or more GPUs)",
            "urn:digits-stable",
        )
    ]
    replacing = [
        (kind, _replace_strategy(props) if kind.endswith("Deployment") else props, urn)
        for kind, props, urn in stack("iris", "digits")
    ]
    assert rule.check(replacing, {"gpuCapacity": 2}) == []


def _replace_strategy(props: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(props)
    changed["spec"]["strategy"]["rollingUpdate"] = {"maxUnavailable": 1, "maxSurge": 0}
    return changed


def test_serving_completeness() -> None:
    rule = serving_completeness.RULE
    complete = stack("iris", "digits")
    assert rule.check(complete, rule.defaults()) == []
    without_service = [r for r in complete if r[2] != "urn:iris-svc"]
    assert rule.check(without_service, rule.defaults()) == [
        ("model iris: no Service", "urn:iris-stable")
    ]
    assert rule.check(complete, {"requireMonitoring": True}) == [
        ("model digits: no ServiceMonitor, PrometheusRule", "urn:digits-stable"),
        ("model iris: no ServiceMonitor, PrometheusRule", "urn:iris-stable"),
    ]
    without_scaler = [r for r in complete if r[2] != "urn:digits-autoscaler"]
    assert rule.check(without_scaler, rule.defaults()) == [
        (
            "model digits: no autoscaler (HorizontalPodAutoscaler or KEDA ScaledObject)",
            "urn:digits-stable",
        )
    ]


def test_serving_completeness_refuses_two_autoscalers_on_one_deployment() -> None:
    rule = serving_completeness.RULE
    spec = spec_of("digits", autoscaling={"metric": "cpu"})
    (track,) = serving.tracks(spec, {v: "x" for v in spec.served_versions})
    both = [*stack("digits"), (HPA, serving.horizontal_pod_autoscaler(spec, track, "models"), "u")]
    assert rule.check(both, rule.defaults()) == [
        (
            "Deployment digits-stable: scaled by HorizontalPodAutoscaler and ScaledObject; each "
            "would write its replicas, and they would fight",
            "urn:digits-autoscaler",
        )
    ]


class _Args:
    """The parts of ResourceValidationArgs a rule reads."""

    def __init__(self, resource_type: str, props: Any) -> None:
        self.resource_type, self.props = resource_type, props

    def get_config(self) -> dict[str, Any]:
        return dict(LOCAL_CONFIG)


def test_a_critical_rule_fails_closed_on_a_value_unknown_at_preview() -> None:
    props = deployment()
    container(props)["image"] = UNKNOWN_STRING_VALUE  # e.g. an image built in the same update
    reported: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append(message)

    image_provenance.RULE._validate_resource(
        _Args(DEPLOYMENT, unknown_checking_proxy(props)),  # type: ignore[arg-type]
        report,
    )
    assert image_provenance.RULE.critical
    assert len(reported) == 1 and reported[0].startswith("cannot be verified at preview (")
    assert reported[0].endswith("); failing closed")


def test_docs_policies_md_is_generated_from_the_pack_and_current() -> None:
    committed = (ROOT / "docs" / "policies.md").read_text()
    assert committed == render(), (
        "docs/policies.md is stale: python -m policies.docs > docs/policies.md"
    )


def test_environments_enforce_as_designed() -> None:
    for rule in ALL:
        assert enforcement(rule, environment_config("dev")) == "advisory", rule.name
        assert enforcement(rule, environment_config("prod")) == "mandatory", rule.name
        assert enforcement(rule, environment_config("local")) == "mandatory", rule.name


ECR = "aws:ecr/repository:Repository"
EKS = "aws:eks/cluster:Cluster"


def ecr_repository_props() -> dict[str, Any]:
    return {
        "name": "gpu-model-platform/iris",
        "imageScanningConfiguration": {"scanOnPush": True},
        "imageTagMutability": "IMMUTABLE",
        "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": "arn:aws:kms:key"}],
    }


def eks_cluster_props() -> dict[str, Any]:
    return {
        "name": "gpu-prod",
        "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:key"}},
        "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager"],
    }


def test_aws_baselines_comply() -> None:
    assert run(ecr_repository.RULE, ECR, ecr_repository_props()) == []
    assert run(eks_cluster.RULE, EKS, eks_cluster_props()) == []
    private = eks_cluster_props()
    private["vpcConfig"] = {"endpointPublicAccess": False}
    assert run(eks_cluster.RULE, EKS, private) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("imageScanningConfiguration", {"scanOnPush": False}, "images are not scanned on push"),
        ("imageTagMutability", "MUTABLE", "tags are mutable; a pushed tag could be moved"),
        (
            "encryptionConfigurations",
            [{"encryptionType": "AES256"}],
            "not encrypted with a KMS key",
        ),
    ],
)
def test_ecr_repository_violations(field: str, value: Any, message: str) -> None:
    props = ecr_repository_props()
    props[field] = value
    assert run(ecr_repository.RULE, ECR, props) == [f"gpu-model-platform/iris: {message}"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("vpcConfig", {"endpointPublicAccess": True}, "the API endpoint is public to 0.0.0.0/0"),
        (
            "vpcConfig",
            {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
            "the API endpoint is public to 0.0.0.0/0",
        ),
        ("encryptionConfig", None, "secrets are not envelope-encrypted with a KMS key"),
        ("enabledClusterLogTypes", ["api"], "control-plane logs off: audit, authenticator"),
    ],
)
def test_eks_cluster_violations(field: str, value: Any, message: str) -> None:
    props = eks_cluster_props()
    props[field] = value
    assert run(eks_cluster.RULE, EKS, props) == [f"gpu-prod: {message}"]


def test_critical_aws_resources_must_be_protected() -> None:
    rule = protect_critical.RULE
    config = rule.defaults()
    assert rule.check(ECR, ecr_repository_props(), config, True) == []
    assert rule.check(ECR, ecr_repository_props(), config, False) == [
        f"{ECR} is not protected: a stray `pulumi destroy` would delete it"
    ]
    assert rule.check("aws:ec2/vpc:Vpc", {}, config, False) == []


def test_gpu_capacity_comes_from_the_stacks_node_groups() -> None:
    rule = gpu_budget.RULE
    groups = [
        (
            "aws:eks/nodeGroup:NodeGroup",
            {"instanceTypes": ["m6i.large"], "scalingConfig": {"maxSize": 9}},
            "urn:system",
        ),
        (
            "aws:eks/nodeGroup:NodeGroup",
            {"instanceTypes": ["g5.xlarge"], "scalingConfig": {"maxSize": 3}},
            "urn:gpu",
        ),
    ]
    assert gpu_budget.node_group_capacity(groups) == 3
    assert gpu_budget.node_group_capacity(stack("digits")) is None
    assert rule.check([*stack("digits"), *groups], rule.defaults()) == [
        (
            "GPUs at peak replicas (digits-stable 4x1 = 4) exceed the GPU capacity of its node "
            "groups (3)",
            None,
        )
    ]


@pytest.mark.parametrize(
    ("instance_type", "gpus"),
    [
        ("g5.xlarge", 1),
        ("g5.12xlarge", 4),
        ("p4d.24xlarge", 8),
        ("g6.48xlarge", 8),
        ("m6i.large", 0),
    ],
)
def test_gpus_per_instance(instance_type: str, gpus: int) -> None:
    assert gpus_per_instance(instance_type) == gpus


class _ConfiguredArgs(_Args):
    def __init__(self, resource_type: str, props: Any, config: dict[str, Any]) -> None:
        super().__init__(resource_type, props)
        self.config = config

    def get_config(self) -> dict[str, Any]:
        return self.config


def _reported(rule: Rule, props: Any, exemptions: list[dict[str, Any]]) -> list[str]:
    reported: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append(message)

    rule._validate_resource(
        _ConfiguredArgs(DEPLOYMENT, props, {"exemptions": exemptions}),  # type: ignore[arg-type]
        report,
    )
    return reported


def test_an_exemption_covers_only_its_findings_on_its_object_and_goes_stale_loudly() -> None:
    props = deployment()
    props["metadata"]["namespace"] = "models"
    props["spec"]["template"]["spec"]["hostNetwork"] = True
    name = props["metadata"]["name"]
    finding = f"{name}: uses the host's network namespace"
    assert _reported(pod_security.RULE, props, []) == [finding]
    exemption = {
        "resource": f"Deployment models/{name}",
        "findings": [finding],
        "reason": "a test of the mechanism",
    }
    assert _reported(pod_security.RULE, props, [exemption]) == []
    # Another object of the same name elsewhere is not exempt.
    elsewhere = {**exemption, "resource": f"Deployment other/{name}"}
    assert _reported(pod_security.RULE, props, [elsewhere]) == [finding]
    # A new finding on the exempt object still fails.
    props["spec"]["template"]["spec"]["hostPID"] = True
    assert _reported(pod_security.RULE, props, [exemption]) == [
        f"{name}: uses the host's pid namespace"
    ]
    # Once the cause is gone, the exemption is reported until it is removed.
    del (
        props["spec"]["template"]["spec"]["hostNetwork"],
        props["spec"]["template"]["spec"]["hostPID"],
    )
    assert _reported(pod_security.RULE, props, [exemption]) == [
        f"the exemption of Deployment models/{name} from pod-security for {finding!r} matches "
        "no finding any more; remove it from the pack's config"
    ]


def test_every_resource_rule_takes_exemptions_with_a_reason() -> None:
    for rule in ALL:
        schema = rule.schema()
        if rule.stack_level:
            assert "exemptions" not in schema, rule.name
            continue
        items = schema["exemptions"]["items"]
        assert items["required"] == ["resource", "findings", "reason"], rule.name
