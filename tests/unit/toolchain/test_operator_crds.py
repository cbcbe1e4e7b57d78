"""The pinned prometheus-operator CRDs: setup put them in the cache, and they are the kinds and
version the program installs."""

from __future__ import annotations

import pytest
import yaml

from components.facts.versions import PROMETHEUS_OPERATOR
from components.monitoring.crds import CRD_PLURALS, OPERATOR_CRD_PLURALS, CrdsNotSetUp, crd_files
from toolchain import operator_crds


def test_each_crd_file_defines_its_kind_at_the_pinned_operator_version() -> None:
    files = crd_files()
    assert sorted(files) == sorted(CRD_PLURALS)
    for plural, path in files.items():
        crd = yaml.safe_load(path.read_text())
        assert crd["kind"] == "CustomResourceDefinition"
        assert crd["spec"]["group"] == "monitoring.coreos.com"
        assert crd["spec"]["names"]["plural"] == plural
        annotations = crd["metadata"]["annotations"]
        assert annotations["operator.prometheus.io/version"] == PROMETHEUS_OPERATOR[1:]


def test_setup_caches_every_kind_the_operator_reads() -> None:
    assert operator_crds.is_set_up()
    assert sorted(crd_files(OPERATOR_CRD_PLURALS)) == sorted(OPERATOR_CRD_PLURALS)


def test_the_program_says_how_to_set_up_crds_it_cannot_find(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(CrdsNotSetUp, match=r"not set up on this machine .* run `make setup`"):
        crd_files()
