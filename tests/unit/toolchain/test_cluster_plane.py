"""toolchain/plane without running anything: the build module it generates, the simulated nodes
and the KWOK stages it applies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.facts import versions
from components.facts.gpu import GPU_RESOURCE, gpu_node_affinity, gpu_taint, gpu_toleration
from components.facts.labels import GPU_NODE_LABEL, GPU_TYPE_LABEL, SIMULATED_CPU_USAGE
from components.facts.versions import KUBERNETES_VERSION
from toolchain.gobuild import ToolchainError
from toolchain.plane import build, nodes, processes
from toolchain.plane.layout import KWOK_NODE_ANNOTATION, Layout

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


def configuration(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The documents kwokctl is given, read back as kwokctl reads them (YAML)."""
    text = processes.configuration_text(Layout(tmp_path), processes.plane_ports())
    kwokctl, kwok = [doc for doc in yaml.safe_load_all(text) if doc]
    return kwokctl, kwok


def patched_args(kwokctl: dict[str, Any], component: str) -> dict[str, str]:
    (patch,) = [p for p in kwokctl["componentsPatches"] if p["name"] == component]
    return {arg["key"]: arg["value"] for arg in patch["extraArgs"]}


def test_kwokctl_runs_our_binaries_on_loopback_without_downloading_anything(
    tmp_path: Path,
) -> None:
    kwokctl, kwok = configuration(tmp_path)
    assert (kwokctl["kind"], kwok["kind"]) == ("KwokctlConfiguration", "KwokConfiguration")
    options = kwokctl["options"]
    assert options["runtime"] == "binary"
    assert options["bindAddress"] == "127.0.0.1"
    assert options["kubeVersion"] == f"v{versions.KUBERNETES_RELEASE}"
    binaries = {key: value for key, value in options.items() if key.endswith("Binary")}
    # One option per process of the plane, each naming our build of it.
    assert sorted(Path(path).name for path in binaries.values()) == sorted(build.PROCESSES)
    for path in binaries.values():
        assert Path(path) == build.binary_path(Path(path).name)
    assert options["enable"] == ["metrics-server"]
    assert build.binary_path(build.KWOKCTL).parent == build.bin_dir()


def test_our_stages_and_usage_are_crds_so_kwokctl_loads_none_of_its_default_stages(
    tmp_path: Path,
) -> None:
    kwokctl, _ = configuration(tmp_path)
    crds = set(kwokctl["options"]["enableCRDs"])
    # kwokctl writes its default stages into KWOK's configuration unless Stage is a CRD.
    assert "Stage" in crds
    kinds = {doc["kind"] for doc in yaml.safe_load_all(nodes.METRICS_FILE.read_text())}
    kinds |= {doc["kind"] for doc in yaml.safe_load_all(nodes.STAGES_FILE.read_text()) if doc}
    assert kinds <= crds


def test_the_flags_tests_depend_on_are_patched_onto_kwokctls_components(tmp_path: Path) -> None:
    kwokctl, _ = configuration(tmp_path)
    names = [patch["name"] for patch in kwokctl["componentsPatches"]]
    assert len(names) == len(set(names))
    assert set(names) <= {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok-controller",
        "metrics-server",
    }
    manager = patched_args(kwokctl, "kube-controller-manager")
    assert manager["horizontal-pod-autoscaler-sync-period"] == "5s"
    assert manager["horizontal-pod-autoscaler-downscale-stabilization"] == "20s"
    assert patched_args(kwokctl, "metrics-server")["metric-resolution"] == "15s"
    assert patched_args(kwokctl, "etcd")["unsafe-no-fsync"] == "true"
    apiserver = patched_args(kwokctl, "kube-apiserver")
    assert apiserver["requestheader-client-ca-file"] == str(Layout(tmp_path).pki / "ca.crt")
    assert apiserver["requestheader-allowed-names"] == processes.PROXY_CLIENT
    # Admission stays kwokctl's default (the API server's own plugins, PodSecurity among them):
    # nothing turns it off.
    assert "kubeAdmission" not in kwokctl["options"]
    assert not any("admission" in key for key in apiserver)


def test_kwok_gives_nodes_a_loopback_address_and_manages_only_annotated_ones(
    tmp_path: Path,
) -> None:
    kwokctl, kwok = configuration(tmp_path)
    (patch,) = [p for p in kwokctl["componentsPatches"] if p["name"] == "kwok-controller"]
    by_key = {arg["key"]: arg for arg in patch["extraArgs"]}
    # kwokctl passes both flags itself, so ours replace its values rather than follow them.
    assert by_key["node-ip"] == {"key": "node-ip", "value": "127.0.0.1", "override": True}
    assert by_key["manage-all-nodes"]["override"] is True
    key, value = KWOK_NODE_ANNOTATION
    assert by_key["manage-nodes-with-annotation-selector"]["value"] == f"{key}={value}"
    for node in nodes.plane_nodes(1, 1):
        assert node["metadata"]["annotations"][key] == value
    assert kwok["options"]["cidr"]


def test_each_new_plane_gets_distinct_ports_for_every_process_that_listens(
    tmp_path: Path,
) -> None:
    kwokctl, _ = configuration(tmp_path)
    ports = {k: v for k, v in kwokctl["options"].items() if k.endswith("Port")}
    assert len(ports) == 7 and len(set(ports.values())) == 7
    assert all(0 < port < 65536 for port in ports.values())


def test_kwokctls_component_table_is_read_and_anything_else_is_an_error() -> None:
    table = (
        "NAME                 STATUS\netcd                 Ready\nkube-apiserver       Stopped\n"
    )
    assert processes.component_states(table) == {"etcd": "Ready", "kube-apiserver": "Stopped"}
    with pytest.raises(ToolchainError):
        processes.component_states("error: no cluster\n")


def test_the_kubeconfig_kwokctl_writes_names_the_api_server(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.kwokctl_kubeconfig.parent.mkdir(parents=True)
    layout.kwokctl_kubeconfig.write_text(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority: /x/ca.crt\n"
        "    server: https://127.0.0.1:32764\n  name: kwok-x\n"
    )
    assert layout.api_server() == "https://127.0.0.1:32764"
