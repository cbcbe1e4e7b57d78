"""The NVIDIA device plugin component as dev and prod create it (components.target.cluster), its
chart rendered by the real Kubernetes provider in render mode (nothing is applied) from the chart
directory this stack's config names (`chartDirectory`), which must hold the pinned chart. The
policy test previews it with the pack (tests/policies/test_device_plugin_chart.py); the
repository's root must be on PYTHONPATH."""

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components.aws.device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from components.facts.versions import NVIDIA_DEVICE_PLUGIN
from components.settings.charts import chart_source, local_chart_problem
from components.target.cluster import DEVICE_PLUGIN

chart_directory = pulumi.Config().require("chartDirectory")
problem = local_chart_problem(chart_directory, NVIDIA_DEVICE_PLUGIN, Path.cwd())
if problem:
    raise pulumi.RunError(f"chartDirectory: {problem}")
provider = k8s.Provider("render", render_yaml_to_directory=str(Path.cwd() / "rendered"))
NvidiaDevicePlugin(
    DEVICE_PLUGIN,
    NvidiaDevicePluginArgs(
        provider=provider, chart=chart_source(chart_directory, NVIDIA_DEVICE_PLUGIN)
    ),
)
