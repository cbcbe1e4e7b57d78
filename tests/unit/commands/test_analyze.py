"""`make analyze`: a canary judged by its SLOs against a real Prometheus (built from its Go module,
loaded with both tracks' series by `promtool tsdb create-blocks-from openmetrics`), its verdict
written as a minimal edit of model.yaml; and the failures that must never read as a verdict."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.analyze import (
    EXIT_FAILURE,
    EXIT_NO_VERDICT,
    EXIT_VERDICT,
    AnalyzeError,
    edit_serving,
    main,
)
from components.catalog.load import parse_spec
from tests.support.canary_series import TrackLoad, openmetrics, recent_span, serve
from tests.support.loopback import free_port
from tests.support.mocks import ROOT

NAMESPACE = "models"  # Pulumi.yaml's default modelsNamespace, which the local stack keeps
SHIPPED_SERVING = "serving:\n  active: 2\n"
# iris (SLO: p99 50 ms, 0.1% server errors) with version 1 as a 50% canary beside active 2.
CANARY_SERVING = (
    "serving:\n"
    "  active: 2  # the version most traffic gets\n"
    "  # Version 1 again, smaller: does it keep the SLO?\n"
    "  canary:\n"
    "    version: 1\n"
    "    percent: 50\n"
)
STABLE = TrackLoad(requests_per_second=4, error_fraction=0.0002, p99_ms=25)
# Window 30m: 2 requests/s is 3600 canary requests, 0.3/s is 540 (under the default 1000).
CASES = {
    "healthy": TrackLoad(2, 0.0005, 20),
    "slow": TrackLoad(2, 0.0005, 80),
    "failing": TrackLoad(2, 0.01, 20),
    "quiet": TrackLoad(0.3, 0.0, 20),
}


def project(tmp_path: Path, serving: str = CANARY_SERVING) -> Path:
    """A copy of what analyze reads: the stack files and iris' model.yaml with a canary."""
    root = tmp_path / "project"
    (root / "models" / "iris").mkdir(parents=True)
    for name in ("Pulumi.yaml", "Pulumi.local.yaml"):
        shutil.copy(ROOT / name, root / name)
    text = (ROOT / "models/iris/model.yaml").read_text()
    assert SHIPPED_SERVING in text, "iris' serving block changed; update this test"
    (root / "models/iris/model.yaml").write_text(text.replace(SHIPPED_SERVING, serving))
    return root


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, float]]]:
    """One Prometheus holding one model per case (iris' spec under the case's name), each with a
    stable and a canary track; and the evaluation time of each case, inside its data."""
    workdir = tmp_path_factory.mktemp("prometheus")
    spec, _ = parse_spec(project(workdir).joinpath("models/iris/model.yaml").read_text(), "iris")
    assert spec is not None
    start, end = recent_span()
    text = "".join(
        openmetrics(
            spec.model_copy(update={"name": case}),
            NAMESPACE,
            {"stable": (2, STABLE), "canary": (1, load)},
            start,
            end,
        ).removesuffix("# EOF\n")
        for case, load in CASES.items()
    )
    server = serve(text + "# EOF\n", workdir)
    try:
        yield server.url, dict.fromkeys(CASES, float(end))
    finally:
        server.stop()


def analyze_case(
    tmp_path: Path, prometheus: tuple[str, dict[str, float]], case: str
) -> tuple[int, Path, str]:
    """Runs analyze on a project whose model `case` is iris with a canary."""
    url, times = prometheus
    root = project(tmp_path)
    folder = root / "models" / case
    (root / "models/iris").rename(folder)
    spec_file = folder / "model.yaml"
    spec_file.write_text(spec_file.read_text().replace("name: iris", f"name: {case}"))
    before = spec_file.read_text()
    code = main(
        [case, "--prometheus-url", url, "--at", str(times[case]), "--out", str(tmp_path / "v.md")],
        root=root,
    )
    return code, spec_file, before


@pytest.mark.gobuild  # Prometheus and promtool, built from their Go module
def test_a_healthy_canary_is_promoted(
    tmp_path: Path, prometheus: tuple[str, dict[str, float]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, spec_file, before = analyze_case(tmp_path, prometheus, "healthy")
    out = capsys.readouterr().out
    assert code == EXIT_VERDICT, out
    after = spec_file.read_text()
    spec, problems = parse_spec(after, "model.yaml")
    assert spec is not None, problems
    assert spec.serving.active == 1 and spec.serving.canary is None
    # Only the serving block changed: the active line, and the canary's lines gone.
    assert after == before.replace(
        "  active: 2  # the version most traffic gets\n"
        "  # Version 1 again, smaller: does it keep the SLO?\n"
        "  canary:\n    version: 1\n    percent: 50\n",
        "  active: 1  # the version most traffic gets\n"
        "  # Version 1 again, smaller: does it keep the SLO?\n",
    )
    assert "promote version 1" in out
    # The numbers Prometheus computed from the series: p99 exactly as generated.
    assert "| canary | 1 | 3600 | 20.0 | 0.050% |" in out, out
    assert "| stable | 2 | 7200 | 25.0 | 0.020% |" in out, out
    assert "| **SLO** | | | 50 | 0.100% |" in out
    assert (tmp_path / "v.md").read_text() in out


@pytest.mark.gobuild  # Prometheus and promtool, built from their Go module
@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("slow", "p99 latency 80.0 ms is above the SLO of 50 ms"),
        ("failing", "server-error rate 1.000% is above the SLO of 0.100%"),
    ],
)
def test_a_canary_breaking_its_slo_is_reverted(
    tmp_path: Path,
    prometheus: tuple[str, dict[str, float]],
    capsys: pytest.CaptureFixture[str],
    case: str,
    reason: str,
) -> None:
    code, spec_file, _ = analyze_case(tmp_path, prometheus, case)
    out = capsys.readouterr().out
    assert code == EXIT_VERDICT, out
    spec, problems = parse_spec(spec_file.read_text(), "model.yaml")
    assert spec is not None, problems
    assert spec.serving.active == 2 and spec.serving.canary is None
    assert "revert canary version 1" in out and reason in out, out


@pytest.mark.gobuild  # Prometheus and promtool, built from their Go module
def test_too_little_canary_traffic_gives_no_verdict_and_no_change(
    tmp_path: Path, prometheus: tuple[str, dict[str, float]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, spec_file, before = analyze_case(tmp_path, prometheus, "quiet")
    out = capsys.readouterr().out
    assert code == EXIT_NO_VERDICT, out
    assert spec_file.read_text() == before
    assert "no verdict" in out and "served 540 requests in 30m, fewer than the 1000" in out, out


def test_prometheus_unreachable_is_a_failure_and_no_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path)
    before = (root / "models/iris/model.yaml").read_text()
    code = main(["iris", "--prometheus-url", f"http://127.0.0.1:{free_port()}"], root=root)
    err = capsys.readouterr().err
    assert code == EXIT_FAILURE
    assert "FAILED, no verdict written" in err and "unreachable" in err, err
    assert (root / "models/iris/model.yaml").read_text() == before
    assert not (root / "build").exists()


def test_a_model_without_canary_is_refused_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path, serving=SHIPPED_SERVING)
    code = main(["iris", "--prometheus-url", "http://127.0.0.1:9"], root=root)
    err = capsys.readouterr().err
    assert code == EXIT_FAILURE
    assert "models/iris/model.yaml: serving.canary: not set" in err, err


def test_the_environment_url_is_used_when_no_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("PROMETHEUS_URL", f"http://127.0.0.1:{port}")
    assert main(["iris"], root=project(tmp_path)) == EXIT_FAILURE
    assert f"127.0.0.1:{port} unreachable" in capsys.readouterr().err


def test_no_url_anywhere_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    assert main(["iris"], root=project(tmp_path)) == EXIT_FAILURE
    assert "no Prometheus to ask" in capsys.readouterr().err


def test_edit_keeps_everything_else_in_flow_style_too() -> None:
    text = "a: 1\nserving:\n  active: 3\n  canary: {version: 4, percent: 10}\n# end\nb: 2\n"
    assert edit_serving(text, 4, "m.yaml") == "a: 1\nserving:\n  active: 4\n# end\nb: 2\n"


def test_edit_refuses_a_layout_it_does_not_know() -> None:
    with pytest.raises(AnalyzeError, match=r"m\.yaml: serving: expected one block-style"):
        edit_serving("serving: {active: 1, canary: {version: 2, percent: 50}}\n", 2, "m.yaml")
