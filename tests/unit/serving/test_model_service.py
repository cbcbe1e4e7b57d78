"""ModelService under Pulumi mocks: which objects each model registers, and through what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.catalog.load import CatalogEntry
from components.facts import labels
from components.serving.component import DOCKERFILE, ModelService, ModelServiceArgs
from tests.support.mocks import ROOT, STARTUP, RecordingMocks, stack_config, use_mocks
from tests.support.specs import spec_of, with_canary

DIGESTS = {1: "sha256:" + "11" * 32, 2: "sha256:" + "22" * 32}
SERVING_TYPES = {
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:core/v1:ConfigMap",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:core/v1:Service",
    "kubernetes:policy/v1:PodDisruptionBudget",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
}


def register(entry: CatalogEntry, build_images: bool = False) -> RecordingMocks:
    mocks = use_mocks(stack_config("local"))

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def _run() -> None:
        provider = k8s.Provider("test-kubernetes", render_yaml_to_directory="out")
        ModelService(
            entry.spec.name,
            ModelServiceArgs(
                entry=entry,
                namespace="models",
                provider=provider,
                registry="reg.example:5000/team",
                build_images=build_images,
            ),
        )

    _run()
    return mocks


def entry(spec_name: str = "iris", spec: Any = None) -> CatalogEntry:
    spec = spec or spec_of(spec_name)
    return CatalogEntry(
        spec=spec,
        directory=ROOT / "models" / spec_name,
        digests=DIGESTS,
        startup=dict.fromkeys(DIGESTS, STARTUP),
        gated=DIGESTS,
    )


def kubernetes_objects(mocks: RecordingMocks) -> list[pulumi.runtime.MockResourceArgs]:
    return [r for r in mocks.resources if r.typ.startswith("kubernetes:")]


def test_a_model_registers_its_serving_objects_all_through_the_stack_provider() -> None:
    mocks = register(entry())
    objects = kubernetes_objects(mocks)
    assert {r.typ for r in objects} == SERVING_TYPES
    assert len(objects) == len(SERVING_TYPES)
    for resource in objects:
        assert "::test-kubernetes::" in (resource.provider or ""), resource.name
        assert resource.inputs["metadata"]["namespace"] == "models", resource.name
        assert resource.inputs["metadata"]["labels"][labels.MODEL_LABEL] == "iris", resource.name


def test_without_image_builds_the_pods_run_the_digest_tagged_image() -> None:
    mocks = register(entry())
    assert mocks.of_type("docker:index/image:Image") == []
    (deployment,) = mocks.of_type("kubernetes:apps/v1:Deployment")
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "reg.example:5000/team/iris:v2-2222222222222222-tfs2.18.0"


def test_with_image_builds_each_version_is_pushed_before_pods_run_its_digest_tag() -> None:
    mocks = register(entry(spec=with_canary()), build_images=True)
    images = {r.name: r.inputs for r in mocks.of_type("docker:index/image:Image")}
    assert set(images) == {"iris-image-v1", "iris-image-v2"}
    build = images["iris-image-v2"]
    assert build["imageName"] == "reg.example:5000/team/iris:v2-2222222222222222-tfs2.18.0"
    assert build["buildOnPreview"] is False
    assert build["build"]["context"] == str(ROOT / "models" / "iris")
    assert build["build"]["dockerfile"] == str(DOCKERFILE)
    assert build["build"]["args"] == {
        "SERVING_IMAGE": "tensorflow/serving:2.18.0",
        "MODEL_NAME": "iris",
        "MODEL_VERSION": "2",
    }
    pinned = {
        d.name: d.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in mocks.of_type("kubernetes:apps/v1:Deployment")
    }
    assert pinned == {
        "iris-stable": "reg.example:5000/team/iris:v2-2222222222222222-tfs2.18.0",
        "iris-canary": "reg.example:5000/team/iris:v1-1111111111111111-tfs2.18.0",
    }
    image_urns = {mocks.registration(r).urn for r in mocks.of_type("docker:index/image:Image")}
    for deployment in mocks.of_type("kubernetes:apps/v1:Deployment"):
        # No pod may roll onto an image before it is pushed.
        assert image_urns <= set(mocks.registration(deployment).dependencies), deployment.name


def test_the_dockerfile_copies_exactly_one_version_onto_pinned_tf_serving() -> None:
    text = Path(DOCKERFILE).read_text()
    assert "FROM ${SERVING_IMAGE}" in text
    assert "COPY savedmodel/${MODEL_VERSION} /models/${MODEL_NAME}/${MODEL_VERSION}" in text


def test_a_canary_adds_a_second_deployment_and_autoscaler() -> None:
    mocks = register(entry(spec=with_canary()))
    deployments = sorted(r.name for r in mocks.of_type("kubernetes:apps/v1:Deployment"))
    autoscalers = mocks.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    assert deployments == ["iris-canary", "iris-stable"]
    assert sorted(r.name for r in autoscalers) == [
        "iris-canary-autoscaler",
        "iris-stable-autoscaler",
    ]


def test_a_single_replica_model_gets_no_disruption_budget() -> None:
    mocks = register(entry(spec=spec_of("iris", replicas={"min": 1, "max": 2})))
    assert mocks.of_type("kubernetes:policy/v1:PodDisruptionBudget") == []
