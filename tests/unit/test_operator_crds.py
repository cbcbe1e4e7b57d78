"""The pinned prometheus-operator CRDs: the files exist and are the kinds and version we pin."""

from __future__ import annotations

import yaml

from tools.operator_crds import CRD_PLURALS, PROMETHEUS_OPERATOR_VERSION, crd_files


def test_each_crd_file_defines_its_kind_at_the_pinned_operator_version() -> None:
    files = crd_files()
    assert sorted(files) == sorted(CRD_PLURALS)
    for plural, path in files.items():
        crd = yaml.safe_load(path.read_text())
        assert crd["kind"] == "CustomResourceDefinition"
        assert crd["spec"]["group"] == "monitoring.coreos.com"
        assert crd["spec"]["names"]["plural"] == plural
        annotations = crd["metadata"]["annotations"]
        assert annotations["operator.prometheus.io/version"] == PROMETHEUS_OPERATOR_VERSION[1:]
