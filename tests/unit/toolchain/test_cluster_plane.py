"""toolchain/plane without running anything: the build module it generates, the simulated nodes
and the KWOK stages it applies."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from components.facts import versions
from components.facts.gpu import GPU_RESOURCE, gpu_node_affinity, gpu_taint, gpu_toleration
from components.facts.labels import GPU_NODE_LABEL, GPU_TYPE_LABEL, SIMULATED_CPU_USAGE
from components.facts.versions import KUBERNETES_VERSION
from toolchain.plane import build, nodes
from toolchain.plane.layout import Layout, plane_ports
from toolchain.plane.processes import component_args

KUBERNETES_GO_MOD = """module k8s.io/kubernetes

require (
\tk8s.io/api v0.0.0
\tk8s.io/sample-apiserver v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/sample-apiserver => ./staging/src/k8s.io/sample-apiserver
\tgithub.com/example/other => github.com/example/other v1.2.3
)
"""


def test_the_plane_runs_the_kubernetes_minor_version_the_platform_targets() -> None:
    major, minor, _ = versions.KUBERNETES_RELEASE.split(".")
    assert f"{major}.{minor}" == KUBERNETES_VERSION


def test_staging_modules_are_the_local_replaces_of_kubernetes() -> None:
    assert build.staging_modules(KUBERNETES_GO_MOD) == [
        "k8s.io/api",
        "k8s.io/client-go",
        "k8s.io/sample-apiserver",
    ]


def test_build_module_pins_each_staging_module_to_the_release_and_stubs_unbuilt_ones() -> None:
    files = build.kubernetes_build_module("1.33.13", KUBERNETES_GO_MOD)
    go_mod = files["go.mod"]
    assert "require k8s.io/kubernetes v1.33.13" in go_mod
    assert "\tk8s.io/api => k8s.io/api v0.33.13" in go_mod
    assert "\tk8s.io/client-go => k8s.io/client-go v0.33.13" in go_mod
    assert "\tk8s.io/sample-apiserver => ./stub/sample-apiserver" in go_mod
    assert files["stub/sample-apiserver/go.mod"].startswith("module k8s.io/sample-apiserver\n")
    assert "github.com/example/other" not in go_mod


def test_version_is_stamped_like_a_release_build() -> None:
    flags = build.kubernetes_version_ldflags("1.33.13")
    assert "-X k8s.io/component-base/version.gitVersion=v1.33.13" in flags
    assert "-X k8s.io/component-base/version.gitMinor=33" in flags


def test_the_cache_folder_names_every_pinned_version() -> None:
    key = build.plane_key()
    for pin in (versions.KUBERNETES_RELEASE, versions.ETCD_VERSION[1:], versions.KWOK_VERSION[1:]):
        assert pin in key


def test_gpu_nodes_look_like_an_eks_gpu_node_group_and_cpu_nodes_do_not() -> None:
    by_name = {n["metadata"]["name"]: n for n in nodes.plane_nodes(cpu_nodes=2, gpu_nodes=1)}
    assert sorted(by_name) == ["cpu-0", "cpu-1", "gpu-0"]
    gpu = by_name["gpu-0"]
    assert gpu["spec"]["taints"] == [gpu_taint()]
    assert gpu["status"]["capacity"][GPU_RESOURCE] == "1"
    assert gpu["status"]["allocatable"][GPU_RESOURCE] == "1"
    assert gpu["metadata"]["labels"][GPU_TYPE_LABEL] == "a10g"
    # A GPU pod's required affinity selects the simulated GPU node.
    terms = gpu_node_affinity(["a10g"])["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    for expression in terms["nodeSelectorTerms"][0]["matchExpressions"]:
        assert gpu["metadata"]["labels"][expression["key"]] in expression["values"]
    assert gpu_toleration()["key"] == gpu["spec"]["taints"][0]["key"]
    for cpu in (by_name["cpu-0"], by_name["cpu-1"]):
        assert "taints" not in cpu["spec"]
        assert GPU_RESOURCE not in cpu["status"]["capacity"]
        assert GPU_NODE_LABEL not in cpu["metadata"]["labels"]
    assert {
        n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in by_name.values()
    } == set(nodes.ZONES)


def test_every_stage_document_is_a_kwok_stage_whose_name_the_script_reads() -> None:
    text = nodes.STAGES_FILE.read_text()
    parsed = [doc for doc in yaml.safe_load_all(text) if doc]
    documents = nodes.yaml_documents(text)
    assert [nodes.yaml_name(doc) for doc in documents] == [d["metadata"]["name"] for d in parsed]
    assert [d["metadata"]["name"] for d in parsed] == ["node-ready", "pod-ready", "pod-delete"]
    assert {d["kind"] for d in parsed} == {"Stage"}


def test_a_ports_file_from_before_metrics_server_keeps_its_ports_and_gains_one(
    tmp_path: Path,
) -> None:
    layout = Layout(tmp_path)
    old = {"etcd_client": 1, "etcd_peer": 2, "apiserver": 3, "controller_manager": 4}
    layout.ports_file.write_text(json.dumps({**old, "scheduler": 5, "kwok": 6}))
    ports = plane_ports(layout)
    assert (ports.apiserver, ports.kwok) == (3, 6) and ports.metrics_server not in range(7)
    assert plane_ports(layout) == ports  # kept from then on


def test_the_simulated_usage_serves_every_series_metrics_server_reads() -> None:
    metric, usage = yaml.safe_load_all(nodes.METRICS_FILE.read_text())
    names = {m["name"] for m in metric["spec"]["metrics"]}
    # The series metrics-server 0.8 decodes from a kubelet's /metrics/resource.
    assert names == {
        "node_cpu_usage_seconds_total",
        "node_memory_working_set_bytes",
        "container_start_time_seconds",
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
    }
    (node,) = [n for n in nodes.plane_nodes(1, 0)]
    path = node["metadata"]["annotations"][nodes.RESOURCE_METRICS_PATH_ANNOTATION]
    assert path == metric["spec"]["path"].replace("{nodeName}", node["metadata"]["name"])
    expression = usage["spec"]["usages"][0]["usage"]["cpu"]["expression"]
    assert SIMULATED_CPU_USAGE in expression


def test_every_process_of_the_plane_has_its_command_line(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    args = component_args(layout, plane_ports(layout))
    assert set(args) == set(build.PROCESSES)
    assert build.binary_path("metrics-server").parent == build.metrics_server_dir()
    assert build.binary_path("kwok").parent == build.bin_dir()
