"""Every label key the platform writes or selects on, in one place: the program writes them, the
policies, the preview summary, the simulated cluster and the tests select on them."""

from __future__ import annotations

# Kubernetes' recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
APP_VERSION = "app.kubernetes.io/version"
PART_OF_VALUE = "gpu-model-platform"
MANAGED_BY_VALUE = "pulumi"

# The platform's own keys.
ROLE_LABEL = "gpu-model-platform/role"
ENVIRONMENT_LABEL = "gpu-model-platform/environment"
MODEL_LABEL = "gpu-model-platform/model"
VERSION_LABEL = "gpu-model-platform/version"
TRACK_LABEL = "gpu-model-platform/track"
# GPU node groups carry both; a GPU pod requires GPU_TYPE_LABEL to be one its model accepts.
GPU_NODE_LABEL = "gpu-model-platform/accelerator"
GPU_NODE_LABEL_VALUE = "nvidia"
GPU_TYPE_LABEL = "gpu-model-platform/gpu-type"

# Pod Security admission: one label per mode, and the version of the standard it applies.
POD_SECURITY_PREFIX = "pod-security.kubernetes.io"

# Grafana's dashboard sidecar loads every ConfigMap with this label.
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_LABEL_VALUE = "1"

# The Kubernetes provider's per-object patch-force switch (it has no provider-level option; its
# only other form is the PULUMI_K8S_ENABLE_PATCH_FORCE environment variable, which nothing here
# would set). With it, a server-side apply takes over the fields the stack sets from any other
# field manager (`kubectl edit`, `kubectl scale`, a controller) instead of failing the update on a
# conflict, so `make up` heals drift. Fields the stack does not set stay with their managers.
PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"
PATCH_FORCE_VALUE = "true"

# Annotation on a pod of the simulated cluster (toolchain/plane/kwok-metrics.yaml): the CPU its
# containers use, e.g. "900m", as KWOK reports it to metrics-server. Tests set it to drive load.
SIMULATED_CPU_USAGE = "gpu-model-platform/simulated-cpu-usage"

# Annotations on each model Deployment (components.serving.startup): seconds from container start
# to the version loaded and warm, and the startup probe's budget; the PR summary reads the first.
EXPECTED_READY_ANNOTATION = "gpu-model-platform/expected-ready-seconds"
STARTUP_BUDGET_ANNOTATION = "gpu-model-platform/startup-budget-seconds"

# The Kubernetes provider's await override: what must hold before `pulumi up` calls an object
# ready, instead of its built-in rule (components/facts/rollout.py: ROLLOUT_COMPLETE, why).
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
