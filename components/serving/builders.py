"""Pure builders of one model's serving objects, as plain Kubernetes dicts.

No Pulumi here: each function takes the validated ModelSpec and returns what the API server
would receive, so the shapes can be tested (and validated against the Kubernetes schema) alone.
components.serving.component registers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.catalog.gate_record import StartupMeasurement
from components.catalog.spec import Batching, ModelSpec, TrackReplicas, canary_split
from components.facts import labels
from components.facts.gpu import GPU_RESOURCE, gpu_node_affinity, gpu_toleration
from components.facts.rollout import ROLLING_UPDATE, ROLLOUT_COMPLETE
from components.facts.versions import TF_SERVING_IMAGE, TF_SERVING_VERSION
from components.serving.startup import StartupBudget, startup_budget

REST_PORT = 8501
GRPC_PORT = 8500
CONFIG_MOUNT = "/etc/tfserving"
MODELS_ROOT = "/models"
# TF Serving's Prometheus endpoint, on the REST port; components.monitoring.scrape scrapes it.
METRICS_PATH = "/monitoring/prometheus/metrics"
MONITORING_CONFIG_FILE = "monitoring.config"
# tensorflow/serving images default to root; the restricted profile needs a numeric non-root user.
SERVING_UID = 1000


TrackName = Literal["stable", "canary"]


@dataclass(frozen=True)
class Track:
    """One Deployment of a model: the stable track, or the canary beside it."""

    name: TrackName
    version: int
    replicas: TrackReplicas
    image: Any
    """The image reference: a string, or a Pulumi output when the image is built in the same run."""
    startup: StartupBudget | None
    """The startup probe's budget, from the gate's measurement of this version; None where only
    the track's name and bounds matter (its autoscaler), never for its Deployment."""


def serving_base_image(spec: ModelSpec) -> str:
    suffix = "-gpu" if spec.uses_gpus else ""
    return f"{TF_SERVING_IMAGE}:{TF_SERVING_VERSION}{suffix}"


def image_tag(spec: ModelSpec, version: int, digest: str) -> str:
    """Tag of a model version's image: its version, the content digest of its SavedModel and the
    TF Serving base it is built on (`tfs2.18.0`, `tfs2.18.0-gpu`). The base is part of the tag
    because it is part of the image: without it, a TF Serving bump (or a model moving to GPUs)
    would build a different image under a tag that already exists, which ECR's immutable tags
    refuse and a mutable registry would serve to old and new pods alike."""
    base = serving_base_image(spec).rsplit(":", 1)[1]
    return f"v{version}-{digest.removeprefix('sha256:')[:16]}-tfs{base}"


def image_reference(registry: str, spec: ModelSpec, version: int, digest: str) -> str:
    return f"{registry}/{spec.name}:{image_tag(spec, version, digest)}"


def tracks(
    spec: ModelSpec,
    images: Mapping[int, Any],
    startup: Mapping[int, StartupMeasurement] | None = None,
) -> list[Track]:
    """The stable track, and the canary track when the spec has one, with their replica bounds
    and startup budgets (`startup`: the gate's measurement of each served version; without it the
    tracks can name autoscalers but not build Deployments)."""

    def track(name: TrackName, version: int, bounds: TrackReplicas) -> Track:
        budget = None if startup is None else startup_budget(startup[version], spec.uses_gpus)
        return Track(name, version, bounds, images[version], budget)

    active = spec.serving.active
    canary = spec.serving.canary
    if canary is None:
        bounds = TrackReplicas(min=spec.replicas.min, max=spec.replicas.max)
        return [track("stable", active, bounds)]
    stable_bounds, canary_bounds = canary_split(spec.replicas, canary.percent)
    return [
        track("stable", active, stable_bounds),
        track("canary", canary.version, canary_bounds),
    ]


def object_name(spec: ModelSpec, kind: str) -> str:
    return f"{spec.name}-{kind}"


def model_labels(spec: ModelSpec) -> dict[str, str]:
    """On every object of the model; the Service selects pods of both tracks by MODEL_LABEL."""
    return {
        labels.NAME: spec.name,
        labels.COMPONENT: "model-serving",
        labels.PART_OF: labels.PART_OF_VALUE,
        labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
        labels.MODEL_LABEL: spec.name,
    }


def selector_labels(spec: ModelSpec, track: TrackName) -> dict[str, str]:
    # The version stays out of the selector (immutable on a Deployment): a new version is a
    # rolling update of the same Deployment, not a replacement.
    return {labels.MODEL_LABEL: spec.name, labels.TRACK_LABEL: track}


def track_labels(spec: ModelSpec, track: Track) -> dict[str, str]:
    return {
        **model_labels(spec),
        **selector_labels(spec, track.name),
        labels.VERSION_LABEL: str(track.version),
        labels.APP_VERSION: str(track.version),
    }


def metadata(
    spec: ModelSpec, kind: str, namespace: str, object_labels: dict[str, str]
) -> dict[str, Any]:
    return {
        "name": object_name(spec, kind),
        "namespace": namespace,
        "labels": object_labels,
        "annotations": owned_annotations(),
    }


def owned_annotations() -> dict[str, str]:
    """On every object the stack owns: its fields win conflicts with other field managers
    (labels.PATCH_FORCE_ANNOTATION says why)."""
    return {labels.PATCH_FORCE_ANNOTATION: labels.PATCH_FORCE_VALUE}


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


def startup_of_track(track: Track) -> StartupBudget:
    if track.startup is None:
        raise ValueError(
            f"track {track.name} v{track.version}: a Deployment needs its startup budget"
        )
    return track.startup


def container(spec: ModelSpec, track: Track) -> dict[str, Any]:
    startup = startup_of_track(track)
    return {
        "name": "tfserving",
        "image": track.image,
        "args": serving_args(track.version),
        "ports": [
            {"name": "http", "containerPort": REST_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
        ],
        "resources": resources(spec),
        # The version is ready once loaded and warmed up; the budget for that comes from the
        # gate's measurement (components.serving.startup). Liveness waits for startup.
        "startupProbe": probe(
            spec, period=startup.period_seconds, failures=startup.failure_threshold
        ),
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
    pod_labels = track_labels(spec, track)
    # On the Deployment, not its pod template: a new measurement of the same files changes what
    # reviewers read without restarting pods. The budget itself is in the startup probe.
    startup = startup_of_track(track)
    annotations = {
        labels.EXPECTED_READY_ANNOTATION: str(startup.expected_ready_seconds),
        labels.STARTUP_BUDGET_ANNOTATION: str(startup.budget_seconds),
        labels.WAIT_FOR_ANNOTATION: ROLLOUT_COMPLETE,
    }
    return {
        "metadata": {
            **metadata(spec, track.name, namespace, pod_labels),
            "annotations": annotations,
        },
        "spec": {
            # No `replicas`: the track's HPA owns it (ours on cpu, KEDA's on a serving signal),
            # and Pulumi must not fight it.
            "selector": {"matchLabels": selector_labels(spec, track.name)},
            # surge (the default): a new pod is ready before an old one goes, capacity never
            # drops; replace: no GPU beyond what the model holds (components/facts/rollout.py).
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": dict(ROLLING_UPDATE[spec.rollout.strategy]),
            },
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": pod_spec(spec, track, config_map_name),
            },
        },
    }


def horizontal_pod_autoscaler(spec: ModelSpec, track: Track, namespace: str) -> dict[str, Any]:
    """The track's HPA on CPU utilisation. A model on a serving signal (requests, gpu) has none:
    KEDA creates and owns its HPA (components.autoscaling), so one thing writes `replicas`."""
    if spec.autoscaling.uses_keda:
        raise ValueError(
            f"{spec.name} scales on {spec.autoscaling.metric} through KEDA, not an HPA"
        )
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
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": round(spec.autoscaling.target),
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
            "selector": {labels.MODEL_LABEL: spec.name},
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
            "selector": {"matchLabels": {labels.MODEL_LABEL: spec.name}},
        },
    }


def network_policy(spec: ModelSpec, namespace: str) -> dict[str, Any]:
    """Only the platform namespace (its ingress and Prometheus) may reach the model's ports."""
    return {
        "metadata": metadata(spec, "serving", namespace, model_labels(spec)),
        "spec": {
            "podSelector": {"matchLabels": {labels.MODEL_LABEL: spec.name}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {labels.ROLE_LABEL: "platform"}}}
                    ],
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
        "metadata": {
            "namespace": namespace,
            "labels": model_labels(spec),
            "annotations": owned_annotations(),
        },
        "data": config_map_data(spec),
    }
