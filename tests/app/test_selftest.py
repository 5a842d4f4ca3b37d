"""``sampletree --self-test``: the engine on the demo library with the shipped network."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import models.loading
from app.cli import main
from core.selftest import (
    MIN_ACCURACY,
    FileResult,
    SelfTestError,
    SelfTestReport,
    demo_classes,
    demo_dir,
    run_self_test,
)
from models import bundled_weights_path

needs_weights = pytest.mark.skipif(
    not bundled_weights_path().is_file(),
    reason=f"no bundled weights at {bundled_weights_path()}: the self-test needs them")


def test_demo_classes_are_its_folders() -> None:
    classes = demo_classes(demo_dir())
    assert sorted(classes) == ["Bass", "Brass & Winds", "Drums/Clap", "Drums/Hi-hat",
                               "Drums/Kick", "Drums/Snare", "Drums/Toms", "Keys", "Strings",
                               "Synth", "Vocals"]
    assert sum(len(v) for v in classes.values()) == 46  # 47 files but the loop
    assert all(len(v) >= 2 for v in classes.values())  # each fold holds one out


@pytest.fixture(scope="module")
def report() -> SelfTestReport:
    if not bundled_weights_path().is_file():
        pytest.skip(f"no bundled weights at {bundled_weights_path()}: the self-test needs them")
    return run_self_test(jobs=0)


def test_self_test_passes_with_the_shipped_network(report: SelfTestReport) -> None:
    assert report.files == 47 and report.decoded == 47 and not report.failed
    assert not report.not_embedded and report.classes == 11
    assert len(report.results) == 46 and {r.fold for r in report.results} == {1, 2}
    assert report.accuracy >= MIN_ACCURACY, report.problems
    assert report.passed
    # "right" is the class itself or, backed off, a group above it; never the root.
    for r in report.results:
        assert r.right == (r.label not in ("", "unknown")
                           and (r.truth == r.label or r.truth.startswith(r.label + "/")))
        assert not r.exact or r.right
    # the map, both projections: every embedded file placed, and classes mostly together
    assert set(report.maps) == {"pca", "tsne"}
    for placed, _seconds, _purity in report.maps.values():  # type: ignore[misc]
        assert placed == 47
    assert max(m[2] for m in report.maps.values()) > 0.3  # type: ignore[index]  # chance ≈ 0.1


def test_a_map_that_cannot_be_drawn_fails_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a build that left scikit-learn out looks like: the map's import fails."""
    if not bundled_weights_path().is_file():
        pytest.skip("no bundled weights")

    def no_sklearn(*_a, **_k):
        raise ModuleNotFoundError("No module named 'sklearn'")

    monkeypatch.setattr("core.projection.project", no_sklearn)
    got = run_self_test(jobs=0)
    assert set(got.maps) == {"pca", "tsne"} and not got.passed
    assert got.problems == ["the map (pca) could not be drawn: ModuleNotFoundError: "
                            "No module named 'sklearn'",
                            "the map (tsne) could not be drawn: ModuleNotFoundError: "
                            "No module named 'sklearn'"]
    half = SelfTestReport("m", files=47, decoded=47, results=got.results,
                          maps={"pca": (40, 0.1, 0.5)})
    assert half.problems == ["the map (pca) placed 40 of 47 files"]


def test_threshold_and_failures_make_it_fail(report: SelfTestReport) -> None:
    strict = SelfTestReport(report.model_id, files=47, decoded=47, results=report.results,
                            min_accuracy=report.accuracy + 0.01)
    assert not strict.passed and "labeled right" in strict.problems[0]
    broken = SelfTestReport(report.model_id, files=47, decoded=46,
                            failed=[("Bass/x.mp3", "unknown format")], results=report.results)
    assert not broken.passed and broken.problems[0].startswith("Bass/x.mp3: could not be read")
    empty = SelfTestReport(report.model_id)
    assert not empty.passed and empty.problems == ["no demo file was classified"]
    wrong = FileResult("a.wav", "Drums/Kick", "Bass", "Bass", 0.9, 1, False, False)
    assert SelfTestReport("m", results=[wrong] * 3).accuracy == 0.0


@needs_weights
def test_cli_self_test_prints_each_file_and_exits_0(capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--self-test"])
    out, err = capsys.readouterr()
    assert exit_.value.code == 0, err
    assert "self-test passed" in out and "Drums/Kick/Kick TR-808 v111.flac" in out
    assert out.count(" → ") == 46


def test_cli_self_test_without_weights_fails_clearly(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(models.loading, "bundled_weights_path",
                        lambda: tmp_path / "none" / "sampletree.pt")
    with pytest.raises(SystemExit) as exit_:
        main(["--self-test"])
    _out, err = capsys.readouterr()
    assert exit_.value.code == 1
    assert err.startswith("sampletree: error: self-test could not run: no usable bundled")


def test_untrained_weights_are_refused(untrained_model) -> None:
    with pytest.raises(SelfTestError, match="untrained"):
        run_self_test(untrained_model, jobs=0)


def test_frozen_app_refuses_the_developer_commands(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert main(["train", "--out", str(tmp_path / "run")]) == 1
    assert "'train' is not part of the desktop build" in capsys.readouterr().err
