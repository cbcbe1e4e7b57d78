"""What the pinned nvidia-device-plugin chart renders on dev and prod, for the policy tests.

Under Pulumi mocks no chart is rendered (helm.v4.Chart is a component the provider expands, and
no provider runs), and no helm binary exists here, so these are the chart's two objects as its
templates (../shared/charts/nvidia-device-plugin, 0.18.2: templates/daemonset-device-plugin.yml,
templates/daemonset-mps-control-daemon.yml, templates/_helpers.tpl) render them with our values
(components.aws.device_plugin.chart_values), transcribed by hand: every value the templates take
from values comes from our values over the chart's values.yaml, the rest is the templates' text.
With our values (no config map, no MIG strategy, GFD and NFD off) the chart renders no
ConfigMap, ServiceAccount, ClusterRole or binding: these two DaemonSets are all of it.
`test_the_transcription_keeps_to_the_templates` checks the transcribed host access against the
templates' text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.aws import device_plugin
from tests.support.mocks import ROOT

CHART_DIR = ROOT.parent / "shared" / "charts" / device_plugin.CHART
DAEMONSET = "kubernetes:apps/v1:DaemonSet"


def chart_defaults(chart_dir: Path = CHART_DIR) -> dict[str, Any]:
    return dict(yaml.safe_load((chart_dir / "values.yaml").read_text()))


def coalesced(defaults: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Our values over the chart's as helm merges them: maps key by key, anything else replaced."""
    merged = dict(defaults)
    for key, value in ours.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            value = coalesced(below, value)
        merged[key] = value
    return merged


def rendered(release: str, namespace: str, chart_dir: Path = CHART_DIR) -> list[tuple[str, Any]]:
    """(type, object) of each object the chart renders as release `release` in `namespace`."""
    defaults = chart_defaults(chart_dir)
    values = coalesced(defaults, device_plugin.chart_values())
    version = device_plugin.CHART_VERSION
    image = f"{defaults['image']['repository']}:v{version}"
    mps_root = values["mps"]["root"]
    # The release name holds the chart's name, so it is the full name of both DaemonSets.
    assert device_plugin.CHART in release
    selector = {
        "app.kubernetes.io/name": device_plugin.CHART,
        "app.kubernetes.io/instance": release,
    }
    labels = {
        "helm.sh/chart": f"{device_plugin.CHART}-{version}",
        **selector,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/managed-by": "Helm",
    }
    placement = {"affinity": values["affinity"], "tolerations": values["tolerations"]}

    def daemonset(name: str, pod: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "selector": {"matchLabels": selector},
                "updateStrategy": values["updateStrategy"],
                "template": {
                    "metadata": {"labels": selector, "annotations": {}},
                    "spec": {
                        "priorityClassName": values["priorityClassName"],
                        "securityContext": values["podSecurityContext"],
                        **pod,
                    },
                },
            },
        }

    plugin = daemonset(
        release,
        {
            "containers": [
                {
                    "image": image,
                    "imagePullPolicy": values["image"]["pullPolicy"],
                    "name": "nvidia-device-plugin-ctr",
                    "command": ["nvidia-device-plugin"],
                    "env": [
                        {"name": "MPS_ROOT", "value": mps_root},
                        {"name": "FAIL_ON_INIT_ERROR", "value": "true"},
                        {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"},
                        {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute,utility"},
                    ],
                    # No MIG strategy and no volume-mounts device list: no SYS_ADMIN.
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": [
                        {
                            "name": "kubelet-device-plugins-dir",
                            "mountPath": "/var/lib/kubelet/device-plugins",
                        },
                        {"name": "mps-shm", "mountPath": "/dev/shm"},
                        {"name": "mps-root", "mountPath": "/mps"},
                        {"name": "cdi-root", "mountPath": "/var/run/cdi"},
                    ],
                    "resources": values["resources"],
                }
            ],
            "volumes": [
                {
                    "name": "kubelet-device-plugins-dir",
                    "hostPath": {"path": "/var/lib/kubelet/device-plugins", "type": "Directory"},
                },
                {
                    "name": "mps-root",
                    "hostPath": {"path": mps_root, "type": "DirectoryOrCreate"},
                },
                {"name": "mps-shm", "hostPath": {"path": f"{mps_root}/shm"}},
                {
                    "name": "cdi-root",
                    "hostPath": {"path": "/var/run/cdi", "type": "DirectoryOrCreate"},
                },
            ],
            **placement,
        },
    )
    mps = daemonset(
        f"{release}-mps-control-daemon",
        {
            **({"hostPID": True} if values["mps"]["enableHostPID"] else {}),
            "initContainers": [
                {
                    "image": image,
                    "name": "mps-control-daemon-mounts",
                    "command": ["mps-control-daemon", "mount-shm"],
                    "securityContext": {"privileged": True},
                    "volumeMounts": [
                        {
                            "name": "mps-root",
                            "mountPath": "/mps",
                            "mountPropagation": "Bidirectional",
                        }
                    ],
                    "resources": values["resources"],
                }
            ],
            "containers": [
                {
                    "image": image,
                    "imagePullPolicy": values["image"]["pullPolicy"],
                    "name": "mps-control-daemon-ctr",
                    "command": ["mps-control-daemon"],
                    "env": [
                        {
                            "name": "NODE_NAME",
                            "valueFrom": {
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}
                            },
                        },
                        {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"},
                        {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute,utility"},
                    ],
                    "securityContext": {"privileged": True},
                    "volumeMounts": [
                        {"name": "mps-shm", "mountPath": "/dev/shm"},
                        {"name": "mps-root", "mountPath": "/mps"},
                    ],
                    "resources": values["resources"],
                }
            ],
            "volumes": [
                {
                    "name": "mps-root",
                    "hostPath": {"path": mps_root, "type": "DirectoryOrCreate"},
                },
                {"name": "mps-shm", "hostPath": {"path": f"{mps_root}/shm"}},
            ],
            # Only nodes labelled for MPS sharing (by GPU Feature Discovery, which is off).
            "nodeSelector": {"nvidia.com/mps.capable": "true"},
            **placement,
        },
    )
    return [(DAEMONSET, plugin), (DAEMONSET, mps)]
