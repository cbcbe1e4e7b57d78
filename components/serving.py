"""Pure builders of one model's serving objects, as plain Kubernetes dicts.

No Pulumi here: each function takes the validated ModelSpec and returns what the API server
would receive, so the shapes can be tested (and validated against the Kubernetes schema) alone.
components.model_service registers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from components.gpu import GPU_RESOURCE, gpu_node_affinity, gpu_toleration
from components.modelspec import Batching, ModelSpec, TrackReplicas, canary_split
from components.namespaces import PART_OF, ROLE_LABEL

# TF Serving, pinned: the base of every model image (the -gpu variant for models with GPUs).
TF_SERVING_IMAGE = "tensorflow/serving"
TF_SERVING_VERSION = "2.18.0"

REST_PORT = 8501
GRPC_PORT = 8500
CONFIG_MOUNT = "/etc/tfserving"
MODELS_ROOT = "/models"
# TF Serving's Prometheus endpoint, on the REST port; components.model_monitoring scrapes it.
METRICS_PATH = "/monitoring/prometheus/metrics"
MONITORING_CONFIG_FILE = "monitoring.config"
# tensorflow/serving images default to root; the restricted profile needs a numeric non-root user.
SERVING_UID = 1000

MODEL_LABEL = "gpu-model-platform/model"
VERSION_LABEL = "gpu-model-platform/version"
TRACK_LABEL = "gpu-model-platform/track"

TrackName = Literal["stable", "canary"]


@dataclass(frozen=True)
class Track:
    """One Deployment of a model: the stable track, or the canary beside it."""

    name: TrackName
    version: int
    replicas: TrackReplicas
    image: Any
    """The image reference: a string, or a Pulumi output when the image is built in the same run."""


def serving_base_image(spec: ModelSpec) -> str:
    suffix = "-gpu" if spec.uses_gpus else ""
    return f"{TF_SERVING_IMAGE}:{TF_SERVING_VERSION}{suffix}"


def image_tag(version: int, digest: str) -> str:
    """Tag of a model version's image: its version and the content digest of its SavedModel."""
    return f"v{version}-{digest.removeprefix('sha256:')[:16]}"


def image_reference(registry: str, spec: ModelSpec, version: int, digest: str) -> str:
    return f"{registry}/{spec.name}:{image_tag(version, digest)}"


def tracks(spec: ModelSpec, images: dict[int, Any]) -> list[Track]:
    """The stable track, and the canary track when the spec has one, with their replica bounds."""
    active = spec.serving.active
    canary = spec.serving.canary
    if canary is None:
        bounds = TrackReplicas(min=spec.replicas.min, max=spec.replicas.max)
        return [Track("stable", active, bounds, images[active])]
    stable_bounds, canary_bounds = canary_split(spec.replicas, canary.percent)
    return [
        Track("stable", active, stable_bounds, images[active]),
        Track("canary", canary.version, canary_bounds, images[canary.version]),
    ]


def object_name(spec: ModelSpec, kind: str) -> str:
    return f"{spec.name}-{kind}"


def model_labels(spec: ModelSpec) -> dict[str, str]:
    """On every object of the model; the Service selects pods of both tracks by MODEL_LABEL."""
    return {
        "app.kubernetes.io/name": spec.name,
        "app.kubernetes.io/component": "model-serving",
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        MODEL_LABEL: spec.name,
    }


def selector_labels(spec: ModelSpec, track: TrackName) -> dict[str, str]:
    # The version stays out of the selector (immutable on a Deployment): a new version is a
    # rolling update of the same Deployment, not a replacement.
    return {MODEL_LABEL: spec.name, TRACK_LABEL: track}


def track_labels(spec: ModelSpec, track: Track) -> dict[str, str]:
    return {
        **model_labels(spec),
        **selector_labels(spec, track.name),
        VERSION_LABEL: str(track.version),
        "app.kubernetes.io/version": str(track.version),
    }


def metadata(spec: ModelSpec, kind: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": object_name(spec, kind), "namespace": namespace, "labels": labels}


def model_config_file(version: int) -> str:
    return f"models-v{version}.config"


def model_config(spec: ModelSpec, version: int) -> str:
    """TF Serving's model config (text protobuf): this model, pinned to one version."""
    return (
        "model_config_list {\n"
        "  config {\n"
        f'    name: "{spec.name}"\n'
        f'    base_path: "{MODELS_ROOT}/{spec.name}"\n'
        '    model_platform: "tensorflow"\n'
        f"    model_version_policy {{ specific {{ versions: {version} }} }}\n"
        "  }\n"
        "}\n"
    )


def batching_config(batching: Batching) -> str:
    """TF Serving's batching parameters (text protobuf)."""
    return (
        f"max_batch_size {{ value: {batching.max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {batching.batch_timeout_micros} }}\n"
        f"num_batch_threads {{ value: {batching.num_batch_threads} }}\n"
        f"max_enqueued_batches {{ value: {batching.max_enqueued_batches} }}\n"
    )


def monitoring_config() -> str:
    """TF Serving's monitoring config (text protobuf): its metrics in Prometheus format."""
    return f'prometheus_config {{\n  enable: true\n  path: "{METRICS_PATH}"\n}}\n'


def config_map_data(spec: ModelSpec) -> dict[str, str]:
    """Config for every declared version, so that switching versions changes only a Deployment."""
    data = {model_config_file(v.id): model_config(spec, v.id) for v in spec.versions}
    data["batching.config"] = batching_config(spec.batching)
    data[MONITORING_CONFIG_FILE] = monitoring_config()
    return data


def serving_args(version: int) -> list[str]:
    return [
        f"--port={GRPC_PORT}",
        f"--rest_api_port={REST_PORT}",
        f"--model_config_file={CONFIG_MOUNT}/{model_config_file(version)}",
        "--enable_batching=true",
        f"--batching_parameters_file={CONFIG_MOUNT}/batching.config",
        f"--monitoring_config_file={CONFIG_MOUNT}/{MONITORING_CONFIG_FILE}",
        # The image holds exactly one version: load it once, never poll the file system.
        "--file_system_poll_wait_seconds=0",
    ]


def resources(spec: ModelSpec) -> dict[str, dict[str, str]]:
    requests = {"cpu": spec.resources.cpu, "memory": spec.resources.memory}
    limits = {"memory": spec.resources.memory}
    if spec.uses_gpus:
        # Extended resources cannot be overcommitted: requests must equal limits.
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(spec.resources.gpus)
    return {"requests": requests, "limits": limits}


def probe(spec: ModelSpec, period: int, failures: int) -> dict[str, Any]:
    # TF Serving answers 200 on the model status endpoint once the version is loaded.
    return {
        "httpGet": {"path": f"/v1/models/{spec.name}", "port": "http"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 2,
    }


def container(spec: ModelSpec, track: Track) -> dict[str, Any]:
    return {
        "name": "tfserving",
        "image": track.image,
        "args": serving_args(track.version),
        "ports": [
            {"name": "http", "containerPort": REST_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
        ],
        "resources": resources(spec),
        # Loading a SavedModel can take minutes on a cold node; liveness waits for startup.
        "startupProbe": probe(spec, period=5, failures=60),
        "readinessProbe": probe(spec, period=5, failures=2),
        "livenessProbe": probe(spec, period=10, failures=3),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SERVING_UID,
            "runAsGroup": SERVING_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def pod_spec(spec: ModelSpec, track: Track, config_map_name: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "serviceAccountName": object_name(spec, "serving"),
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "fsGroup": SERVING_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container(spec, track)],
        "volumes": [
            {"name": "config", "configMap": {"name": config_map_name}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        ],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector_labels(spec, track.name)},
            }
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
        ],
    }
    if spec.uses_gpus:
        pod["affinity"] = gpu_node_affinity(spec.resources.gpu_types)
        pod["tolerations"] = [gpu_toleration()]
    return pod


def deployment(
    spec: ModelSpec, track: Track, namespace: str, config_map_name: Any
) -> dict[str, Any]:
    """`config_map_name` is the generated name of the model's ConfigMap (see config_map)."""
    labels = track_labels(spec, track)
    return {
        "metadata": metadata(spec, track.name, namespace, labels),
        "spec": {
            # No `replicas`: the HorizontalPodAutoscaler owns it, and Pulumi must not fight it.
            "selector": {"matchLabels": selector_labels(spec, track.name)},
            "strategy": {
                "type": "RollingUpdate",
                # A new pod must be ready before an old one goes: capacity never drops.
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": labels},
                "spec": pod_spec(spec, track, config_map_name),
            },
        },
    }


def horizontal_pod_autoscaler(spec: ModelSpec, track: Track, namespace: str) -> dict[str, Any]:
    return {
        "metadata": metadata(spec, track.name, namespace, track_labels(spec, track)),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": object_name(spec, track.name),
            },
            "minReplicas": track.replicas.min,
            "maxReplicas": track.replicas.max,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": spec.autoscaling.metric,
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": spec.autoscaling.target_utilization,
                        },
                    },
                }
            ],
        },
    }


def service(spec: ModelSpec, namespace: str) -> dict[str, Any]:
    # One Service over both tracks: the canary's share of traffic is its share of ready pods.
    return {
        "metadata": metadata(spec, "serving", namespace, model_labels(spec)),
        "spec": {
            "type": "ClusterIP",
            "selector": {MODEL_LABEL: spec.name},
            "ports": [
                {"name": "http", "port": REST_PORT, "targetPort": "http", "protocol": "TCP"},
                {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
            ],
        },
    }


def pod_disruption_budget(spec: ModelSpec, namespace: str) -> dict[str, Any] | None:
    """With two or more replicas, a voluntary disruption (a node drain) takes one at a time."""
    if spec.replicas.min < 2:
        return None
    return {
        "metadata": metadata(spec, "serving", namespace, model_labels(spec)),
        "spec": {
            "minAvailable": spec.replicas.min - 1,
            "selector": {"matchLabels": {MODEL_LABEL: spec.name}},
        },
    }


def network_policy(spec: ModelSpec, namespace: str) -> dict[str, Any]:
    """Only the platform namespace (its ingress and Prometheus) may reach the model's ports."""
    return {
        "metadata": metadata(spec, "serving", namespace, model_labels(spec)),
        "spec": {
            "podSelector": {"matchLabels": {MODEL_LABEL: spec.name}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": {ROLE_LABEL: "platform"}}}],
                    "ports": [
                        {"protocol": "TCP", "port": REST_PORT},
                        {"protocol": "TCP", "port": GRPC_PORT},
                    ],
                }
            ],
        },
    }


def service_account(spec: ModelSpec, namespace: str) -> dict[str, Any]:
    return {
        "metadata": metadata(spec, "serving", namespace, model_labels(spec)),
        "automountServiceAccountToken": False,
    }


def config_map(spec: ModelSpec, namespace: str) -> dict[str, Any]:
    """Without a name: Pulumi names it `<model>-tfserving-<suffix>` and treats it as immutable, so
    a config change creates a new ConfigMap and rolls the Deployments onto it (TF Serving reads
    its config only at start), then deletes the old one."""
    return {
        "metadata": {"namespace": namespace, "labels": model_labels(spec)},
        "data": config_map_data(spec),
    }
