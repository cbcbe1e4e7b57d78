"""The pure builders of a model's serving objects."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest

from components.catalog.spec import ModelSpec, Rollout
from components.facts import gpu, labels
from components.facts.rollout import ROLLOUT_COMPLETE
from components.facts.types import MAX_MODEL_NAME_LENGTH
from components.facts.versions import KUBERNETES_VERSION
from components.serving import builders as serving
from tests.support.specs import spec_of, startup_of, with_canary

DIGEST = "sha256:" + "ab" * 32


def only_track(spec: ModelSpec) -> serving.Track:
    (track,) = serving.tracks(spec, {v: f"img:{v}" for v in spec.served_versions}, startup_of(spec))
    return track


def test_image_tag_names_version_content_digest_and_serving_base() -> None:
    spec = spec_of("iris")
    assert serving.image_tag(spec, 2, DIGEST) == "v2-abababababababab-tfs2.18.0"
    assert serving.image_reference("reg:5000/team", spec, 2, DIGEST) == (
        "reg:5000/team/iris:v2-abababababababab-tfs2.18.0"
    )
    gpu = spec_of("digits")
    assert gpu.uses_gpus
    assert serving.image_tag(gpu, 2, DIGEST) == "v2-abababababababab-tfs2.18.0-gpu"


def test_a_serving_bump_is_a_new_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_of("iris")
    before = serving.image_tag(spec, 2, DIGEST)
    monkeypatch.setattr(serving, "TF_SERVING_VERSION", "2.19.1")
    assert serving.image_tag(spec, 2, DIGEST) == "v2-abababababababab-tfs2.19.1" != before


def test_base_image_is_pinned_and_gpu_models_get_the_gpu_variant() -> None:
    assert serving.serving_base_image(spec_of("iris")) == "tensorflow/serving:2.18.0"
    assert serving.serving_base_image(spec_of("digits")) == "tensorflow/serving:2.18.0-gpu"


def test_deployment_leaves_replicas_to_the_autoscaler_and_never_drops_capacity() -> None:
    spec = spec_of("iris")
    deployment = serving.deployment(spec, only_track(spec), "models", "iris-tfserving-x")
    assert "replicas" not in deployment["spec"]
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert deployment["metadata"]["name"] == "iris-stable"


def test_the_replace_strategy_takes_an_old_pod_down_before_starting_its_replacement() -> None:
    spec = spec_of("iris").model_copy(update={"rollout": Rollout(strategy="replace")})
    deployment = serving.deployment(spec, only_track(spec), "models", "iris-tfserving-x")
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }


def test_every_object_is_labelled_with_model_version_and_track() -> None:
    spec = spec_of("iris")
    pod_labels = serving.deployment(spec, only_track(spec), "models", "iris-tfserving-x")["spec"][
        "template"
    ]["metadata"]["labels"]
    assert pod_labels[labels.MODEL_LABEL] == "iris"
    assert pod_labels[labels.VERSION_LABEL] == "2"
    assert pod_labels[labels.TRACK_LABEL] == "stable"


def test_selector_leaves_the_version_out_so_a_new_version_is_a_rolling_update() -> None:
    spec = spec_of("iris")
    selector = serving.deployment(spec, only_track(spec), "models", "iris-tfserving-x")["spec"][
        "selector"
    ]
    assert selector == {"matchLabels": {labels.MODEL_LABEL: "iris", labels.TRACK_LABEL: "stable"}}


def test_container_is_restricted_and_probes_tf_serving_model_status() -> None:
    spec = spec_of("iris")
    container = serving.container(spec, only_track(spec))
    security = container["securityContext"]
    assert security["runAsNonRoot"] and security["readOnlyRootFilesystem"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/v1/models/iris", "port": "http"}
    assert "--model_config_file=/etc/tfserving/models-v2.config" in container["args"]


def test_gpu_model_requests_equal_limits_selects_gpu_nodes_and_tolerates_their_taint() -> None:
    spec = spec_of("digits")
    pod = serving.pod_spec(spec, only_track(spec), "cm")
    resources = pod["containers"][0]["resources"]
    assert resources["limits"][gpu.GPU_RESOURCE] == resources["requests"][gpu.GPU_RESOURCE] == "1"
    assert pod["tolerations"] == [gpu.gpu_toleration()]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    expressions = terms["nodeSelectorTerms"][0]["matchExpressions"]
    assert {"key": labels.GPU_TYPE_LABEL, "operator": "In", "values": ["t4", "a10g", "l4"]} in (
        expressions
    )


def test_cpu_model_asks_for_no_gpu_and_does_not_tolerate_gpu_nodes() -> None:
    spec = spec_of("iris")
    pod = serving.pod_spec(spec, only_track(spec), "cm")
    assert gpu.GPU_RESOURCE not in pod["containers"][0]["resources"]["limits"]
    assert "tolerations" not in pod and "affinity" not in pod


def test_canary_gets_its_own_deployment_and_autoscaler_with_split_bounds() -> None:
    spec = with_canary()
    stable, canary = serving.tracks(spec, {1: "img:1", 2: "img:2"}, startup_of(spec))
    assert (stable.name, stable.version, stable.image) == ("stable", 2, "img:2")
    assert (canary.name, canary.version, canary.image) == ("canary", 1, "img:1")
    hpa = serving.horizontal_pod_autoscaler(spec, canary, "models")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 3)
    assert hpa["scaleTargetRef"]["name"] == "iris-canary"
    assert serving.config_map_data(spec).keys() == {
        "models-v2.config",
        "models-v1.config",
        "batching.config",
        "monitoring.config",
    }


def test_one_service_selects_both_tracks() -> None:
    assert serving.service(with_canary(), "models")["spec"]["selector"] == {
        labels.MODEL_LABEL: "iris"
    }


def test_disruption_budget_only_from_two_replicas() -> None:
    assert serving.pod_disruption_budget(spec_of("iris"), "models") is not None
    budget = serving.pod_disruption_budget(spec_of("iris"), "models")
    assert budget is not None and budget["spec"]["minAvailable"] == 1
    single = spec_of("iris", replicas={"min": 1, "max": 3})
    assert serving.pod_disruption_budget(single, "models") is None


def test_config_map_holds_every_declared_version_so_a_rollback_touches_only_a_deployment() -> None:
    spec = spec_of("iris")
    assert set(serving.config_map_data(spec)) == {
        "models-v1.config",
        "models-v2.config",
        "batching.config",
        "monitoring.config",
    }
    assert "name" not in serving.config_map(spec, "models")["metadata"]
    pod = serving.pod_spec(spec, only_track(spec), "iris-tfserving-abc")
    assert {"name": "config", "configMap": {"name": "iris-tfserving-abc"}} in pod["volumes"]


def test_tf_serving_configs_pin_the_version_and_the_batching() -> None:
    spec = spec_of("iris")
    assert "model_version_policy { specific { versions: 2 } }" in serving.model_config(spec, 2)
    assert 'base_path: "/models/iris"' in serving.model_config(spec, 2)
    assert "max_batch_size { value: 64 }" in serving.batching_config(spec.batching)


def manifests(spec: ModelSpec) -> list[dict[str, Any]]:
    track = only_track(spec)
    kinds: list[tuple[str, str, dict[str, Any] | None]] = [
        ("apps/v1", "Deployment", serving.deployment(spec, track, "models", "cfg")),
        (
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            # A model on a serving signal has none of ours: tests/unit/autoscaling.
            None
            if spec.autoscaling.uses_keda
            else serving.horizontal_pod_autoscaler(spec, track, "models"),
        ),
        ("v1", "Service", serving.service(spec, "models")),
        ("policy/v1", "PodDisruptionBudget", serving.pod_disruption_budget(spec, "models")),
        ("networking.k8s.io/v1", "NetworkPolicy", serving.network_policy(spec, "models")),
        ("v1", "ServiceAccount", serving.service_account(spec, "models")),
        (
            "v1",
            "ConfigMap",
            {
                **serving.config_map(spec, "models"),
                "metadata": {**serving.config_map(spec, "models")["metadata"], "name": "generated"},
            },
        ),
    ]
    return [{"apiVersion": a, "kind": k, **body} for a, k, body in kinds if body is not None]


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_every_built_object_is_valid_against_the_kubernetes_schema(name: str) -> None:
    for manifest in manifests(spec_of(name)):
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_tf_serving_exports_prometheus_metrics_at_the_scraped_path() -> None:
    spec = spec_of("iris")
    config = serving.config_map_data(spec)[serving.MONITORING_CONFIG_FILE]
    assert config == (
        'prometheus_config {\n  enable: true\n  path: "/monitoring/prometheus/metrics"\n}\n'
    )
    args = serving.container(spec, only_track(spec))["args"]
    assert "--monitoring_config_file=/etc/tfserving/monitoring.config" in args


# The API server's name rules (k8s.io/apimachinery/pkg/util/validation), which the OpenAPI schema
# does not carry: Service names are DNS-1035 labels, most other names DNS-1123 subdomains, and
# label values at most 63 characters.
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def name_problems(manifest: dict[str, Any]) -> list[str]:
    kind, metadata = manifest["kind"], manifest["metadata"]
    name = metadata["name"]
    problems = []
    if kind == "Service":
        if len(name) > 63 or not DNS1035_LABEL.match(name):
            problems.append(f"Service {name!r} is not a DNS-1035 label")
    elif len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        problems.append(f"{kind} {name!r} is not a DNS-1123 subdomain")
    found_labels = dict(metadata.get("labels") or {})
    template = manifest.get("spec", {}).get("template", {}).get("metadata", {})
    found_labels.update(template.get("labels") or {})
    for key, value in found_labels.items():
        if len(value) > 63 or not LABEL_VALUE.match(value):
            problems.append(f"{kind} {name!r}: label {key}={value!r} is not a label value")
    return problems


def longest_name_spec(length: int) -> ModelSpec:
    # model_copy skips validation: the test also builds a name one over the limit.
    return spec_of("digits").model_copy(update={"name": "m" + "x" * (length - 1)})


def test_a_name_at_the_limit_is_valid_for_every_object_it_names() -> None:
    spec = longest_name_spec(MAX_MODEL_NAME_LENGTH)
    problems = [p for manifest in manifests(spec) for p in name_problems(manifest)]
    assert problems == []


def test_a_name_one_over_the_limit_would_break_the_service_name() -> None:
    spec = longest_name_spec(MAX_MODEL_NAME_LENGTH + 1)
    problems = [p for manifest in manifests(spec) for p in name_problems(manifest)]
    assert problems == [f"Service '{spec.name}-serving' is not a DNS-1035 label"]


@pytest.mark.parametrize("model", ["iris", "digits"])
def test_up_waits_for_the_whole_rollout_through_the_waitfor_annotation(model: str) -> None:
    # The provider's own Deployment await could take status from before the update for the
    # rollout's (components/facts/rollout.py: ROLLOUT_COMPLETE); this one is checked against the
    # live object's observed generation, spec.replicas and replica counts. What the simulated
    # cluster shows of it: tests/integration/test_cluster.py, the rollout that never gets ready.
    spec = spec_of(model)
    annotations = serving.deployment(spec, only_track(spec), "models", "cfg")["metadata"][
        "annotations"
    ]
    expression = annotations[labels.WAIT_FOR_ANNOTATION]
    assert expression == ROLLOUT_COMPLETE
    # The provider splits "jsonpath={path}=value" on a single '=' and its parser refuses blanks
    # before a second '&&': the expression has neither.
    assert "=" not in expression.removeprefix("jsonpath=").replace("==", "")
    assert " " not in expression
    for field in ("updatedReplicas", "availableReplicas", "replicas"):
        assert f"$.status.{field}==$.spec.replicas" in expression
