"""The pure builders of a model's serving objects."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from components import gpu, serving
from components.cluster import KUBERNETES_VERSION
from components.modelspec import ModelSpec
from tests.support import ROOT

DIGEST = "sha256:" + "ab" * 32


def spec_of(name: str, **changes: Any) -> ModelSpec:
    raw = yaml.safe_load((ROOT / f"models/{name}/model.yaml").read_text())
    raw.update(changes)
    return ModelSpec.model_validate(raw)


def only_track(spec: ModelSpec) -> serving.Track:
    (track,) = serving.tracks(spec, {v: f"img:{v}" for v in spec.served_versions})
    return track


def with_canary() -> ModelSpec:
    return spec_of(
        "iris",
        serving={"active": 2, "canary": {"version": 1, "percent": 50}},
        replicas={"min": 2, "max": 6},
    )


def test_image_tag_names_version_and_content_digest() -> None:
    spec = spec_of("iris")
    assert serving.image_tag(2, DIGEST) == "v2-abababababababab"
    assert serving.image_reference("reg:5000/team", spec, 2, DIGEST) == (
        "reg:5000/team/iris:v2-abababababababab"
    )


def test_base_image_is_pinned_and_gpu_models_get_the_gpu_variant() -> None:
    assert serving.serving_base_image(spec_of("iris")) == "tensorflow/serving:2.18.0"
    assert serving.serving_base_image(spec_of("digits")) == "tensorflow/serving:2.18.0-gpu"


def test_deployment_leaves_replicas_to_the_autoscaler_and_never_drops_capacity() -> None:
    spec = spec_of("iris")
    deployment = serving.deployment(spec, only_track(spec), "models", "iris-tfserving-x")
    assert "replicas" not in deployment["spec"]
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert deployment["metadata"]["name"] == "iris-stable"


def test_every_object_is_labelled_with_model_version_and_track() -> None:
    spec = spec_of("iris")
    labels = serving.deployment(spec, only_track(spec), "models", "iris-tfserving-x")["spec"][
        "template"
    ]["metadata"]["labels"]
    assert labels[serving.MODEL_LABEL] == "iris"
    assert labels[serving.VERSION_LABEL] == "2"
    assert labels[serving.TRACK_LABEL] == "stable"


def test_selector_leaves_the_version_out_so_a_new_version_is_a_rolling_update() -> None:
    spec = spec_of("iris")
    selector = serving.deployment(spec, only_track(spec), "models", "iris-tfserving-x")["spec"][
        "selector"
    ]
    assert selector == {"matchLabels": {serving.MODEL_LABEL: "iris", serving.TRACK_LABEL: "stable"}}


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
    assert {"key": gpu.GPU_TYPE_LABEL, "operator": "In", "values": ["t4", "a10g", "l4"]} in (
        expressions
    )


def test_cpu_model_asks_for_no_gpu_and_does_not_tolerate_gpu_nodes() -> None:
    spec = spec_of("iris")
    pod = serving.pod_spec(spec, only_track(spec), "cm")
    assert gpu.GPU_RESOURCE not in pod["containers"][0]["resources"]["limits"]
    assert "tolerations" not in pod and "affinity" not in pod


def test_canary_gets_its_own_deployment_and_autoscaler_with_split_bounds() -> None:
    spec = with_canary()
    stable, canary = serving.tracks(spec, {1: "img:1", 2: "img:2"})
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
        serving.MODEL_LABEL: "iris"
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
            serving.horizontal_pod_autoscaler(spec, track, "models"),
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
