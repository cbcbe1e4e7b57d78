"""GPU quotas at run time: on a private simulated cluster (toolchain/plane), the models namespace
and its GPU ResourceQuota exactly as the program renders them (the same builders), then GPU pods
up to the stack's budget admitted and the one past it refused by the API server's admission."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from components.facts.gpu import GPU_RESOURCE
from components.serving.builders import service_account
from components.target.namespaces import GPU_QUOTA_NAME, gpu_quota, namespace_metadata
from tests.support.mocks import ROOT
from tests.support.policy_fixtures import POD, as_kind, deployment
from tests.support.specs import spec_of
from toolchain.plane.api import Api, ApiError, wait_until
from toolchain.plane.layout import Layout
from toolchain.plane.lifecycle import up
from toolchain.plane.processes import stop

pytestmark = [pytest.mark.cluster, pytest.mark.engine]

NAMESPACE = "models"


def local_gpu_budget() -> int:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["gpuBudget"]
    stack = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text()).get("config") or {}
    return int(stack.get("gpu-model-platform:gpuBudget", declared["default"]))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    layout = Layout(tmp_path_factory.mktemp("quota-plane"))
    try:
        up(layout, 0, 1)
        yield Api(layout)
    finally:
        stop(layout)


def gpu_pod(name: str) -> dict[str, Any]:
    """A digits serving pod (one GPU, restricted security context), as ModelService builds it."""
    pod = as_kind(POD, deployment(name))
    pod["apiVersion"], pod["kind"] = "v1", "Pod"
    pod["metadata"]["namespace"] = NAMESPACE
    return copy.deepcopy(pod)


def test_a_gpu_pod_past_the_quota_is_refused_at_admission(api: Api) -> None:
    budget = local_gpu_budget()
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": namespace_metadata(NAMESPACE, "models", "local"),
    }
    api.apply(f"/api/v1/namespaces/{NAMESPACE}", namespace)
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        **service_account(spec_of("digits"), NAMESPACE),
    }
    api.apply(
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{account['metadata']['name']}", account
    )
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", **gpu_quota(NAMESPACE, budget)}
    quota_path = f"/api/v1/namespaces/{NAMESPACE}/resourcequotas/{GPU_QUOTA_NAME}"
    api.apply(quota_path, quota)
    key = f"requests.{GPU_RESOURCE}"
    # Admission counts against the quota's status, which the controller-manager fills in: a quota
    # just created has an empty status until it has.
    wait_until(
        "the GPU quota's status",
        lambda: key in api.get(quota_path).get("status", {}).get("hard", {}),
        60,
    )

    started = time.monotonic()
    for index in range(budget):
        api.request("POST", f"/api/v1/namespaces/{NAMESPACE}/pods", gpu_pod(f"gpu-{index}"))
    with pytest.raises(ApiError) as refused:
        api.request("POST", f"/api/v1/namespaces/{NAMESPACE}/pods", gpu_pod(f"gpu-{budget}"))
    seconds = time.monotonic() - started
    assert refused.value.status == 403
    message = json.loads(str(refused.value).split(": ", 1)[1])["message"]
    assert f"exceeded quota: {GPU_QUOTA_NAME}" in message, message
    assert f"requested: {key}=1, used: {key}={budget}, limited: {key}={budget}" in message, message
    used = api.get(quota_path)["status"]["used"][key]
    assert used == str(budget)
    print(
        f"[quota] {budget} GPU pods admitted, pod {budget + 1} refused in {seconds:.1f}s: {message}"
    )
