"""tools/cluster.py without running anything: the build module it generates, the simulated nodes
and the KWOK stages it applies."""

from __future__ import annotations

import yaml

from components.cluster import KUBERNETES_VERSION
from components.gpu import (
    GPU_NODE_LABEL,
    GPU_RESOURCE,
    GPU_TYPE_LABEL,
    gpu_node_affinity,
    gpu_taint,
    gpu_toleration,
)
from tools import cluster

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
    major, minor, _ = cluster.KUBERNETES_RELEASE.split(".")
    assert f"{major}.{minor}" == KUBERNETES_VERSION


def test_staging_modules_are_the_local_replaces_of_kubernetes() -> None:
    assert cluster.staging_modules(KUBERNETES_GO_MOD) == [
        "k8s.io/api",
        "k8s.io/client-go",
        "k8s.io/sample-apiserver",
    ]


def test_build_module_pins_each_staging_module_to_the_release_and_stubs_unbuilt_ones() -> None:
    files = cluster.kubernetes_build_module("1.33.13", KUBERNETES_GO_MOD)
    go_mod = files["go.mod"]
    assert "require k8s.io/kubernetes v1.33.13" in go_mod
    assert "\tk8s.io/api => k8s.io/api v0.33.13" in go_mod
    assert "\tk8s.io/client-go => k8s.io/client-go v0.33.13" in go_mod
    assert "\tk8s.io/sample-apiserver => ./stub/sample-apiserver" in go_mod
    assert files["stub/sample-apiserver/go.mod"].startswith("module k8s.io/sample-apiserver\n")
    assert "github.com/example/other" not in go_mod


def test_version_is_stamped_like_a_release_build() -> None:
    flags = cluster.kubernetes_version_ldflags("1.33.13")
    assert "-X k8s.io/component-base/version.gitVersion=v1.33.13" in flags
    assert "-X k8s.io/component-base/version.gitMinor=33" in flags


def test_the_cache_folder_names_every_pinned_version() -> None:
    key = cluster.plane_key()
    for pin in (cluster.KUBERNETES_RELEASE, cluster.ETCD_VERSION[1:], cluster.KWOK_VERSION[1:]):
        assert pin in key


def test_gpu_nodes_look_like_an_eks_gpu_node_group_and_cpu_nodes_do_not() -> None:
    nodes = {n["metadata"]["name"]: n for n in cluster.plane_nodes(cpu_nodes=2, gpu_nodes=1)}
    assert sorted(nodes) == ["cpu-0", "cpu-1", "gpu-0"]
    gpu = nodes["gpu-0"]
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
    for cpu in (nodes["cpu-0"], nodes["cpu-1"]):
        assert "taints" not in cpu["spec"]
        assert GPU_RESOURCE not in cpu["status"]["capacity"]
        assert GPU_NODE_LABEL not in cpu["metadata"]["labels"]
    assert {n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes.values()} == set(
        cluster.ZONES
    )


def test_every_stage_document_is_a_kwok_stage_whose_name_the_script_reads() -> None:
    text = cluster.STAGES_FILE.read_text()
    parsed = [doc for doc in yaml.safe_load_all(text) if doc]
    documents = cluster.yaml_documents(text)
    assert [cluster.yaml_name(doc) for doc in documents] == [d["metadata"]["name"] for d in parsed]
    assert [d["metadata"]["name"] for d in parsed] == ["node-ready", "pod-ready", "pod-delete"]
    assert {d["kind"] for d in parsed} == {"Stage"}
