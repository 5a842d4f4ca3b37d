"""scripts/calibrate.py on a tiny fake real set: the app's classify path, a threshold grid."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_calibration_runs_the_app_path_and_picks_from_the_grid(tmp_path: Path, monkeypatch):
    from models import realset
    from models.features import FeatureParams
    from models.loading import build_untrained, save_model
    from models.network import NetworkConfig

    fake = _load("fake_realset", ROOT / "tests/models/test_realset.py")
    cal = _load("calibrate_script", ROOT / "scripts/calibrate.py")
    monkeypatch.setattr(cal, "TEMPERATURES", (None, 2.0))
    monkeypatch.setattr(cal, "MIN_CONFIDENCE", (0.5, 0.9))
    monkeypatch.setattr(cal, "UNKNOWN_FACTOR", (1.0, 3.0))
    root, dl = tmp_path / "pkg", tmp_path / "dl"
    fake._fake_tree(root, dl)
    realset.build(tmp_path / "set", [root], dl, log=lambda _s: None)
    weights = tmp_path / "w" / "tiny.pt"
    small = build_untrained(FeatureParams(n_fft=1024, win_length=512, hop_length=256, n_mels=32),
                            NetworkConfig(n_mels=32, embedding_dim=16, stem=8, stem_stride=2,
                                          widths=(8, 16), n_blocks=2, channels=16), seed=3)
    save_model(small, weights, name="tiny", version="0")
    res = cal.calibrate(weights, tmp_path / "set", tmp_path / "work", shots=(1, 2),
                        n_episodes=2, min_files=3, log=lambda _s: None)
    assert len(res["grid"]) == 8
    for e in res["grid"]:
        for k in ("1", "2"):
            m = e["by_k"][k]
            assert 0 <= m["coverage"] <= 1 and 0 <= m["unknown"] <= 1
            assert 0 <= m["open_unknown"] <= 1 and 0 <= m["probe_max_conf"] <= 1
    # a larger unknown factor never calls more files unknown
    by = {(e["temperature"], e["min_confidence"], e["unknown_factor"]): e for e in res["grid"]}
    assert by[(2.0, 0.5, 3.0)]["unknown"] <= by[(2.0, 0.5, 1.0)]["unknown"]
    # a higher bar for a leaf never shows more leaves
    assert by[(2.0, 0.9, 3.0)]["coverage"] <= by[(2.0, 0.5, 3.0)]["coverage"]
    assert res["best"] in res["grid"]
    cal.write_report(res, tmp_path / "out", cal.Thresholds())
    assert "| chosen | 1 |" in (tmp_path / "out/results.md").read_text()
    # the model's calibration: measured on the set, written where the app finds it
    from core import calibration

    c = res["_calibration"]
    assert c.model_id == res["model"] and c.tone_emb.shape == (
        len(calibration.reference_signals()), 16)
    assert c.unknown_distance > 0 and c.tone_reach > 0
    assert c.unknown_distance_builtins != c.unknown_distance_builtins  # NaN: not its built-ins
    assert cal.main(["--model", str(weights), "--set", str(tmp_path / "set"), "--work",
                     str(tmp_path / "work"), "--shots", "1", "2", "--episodes", "2",
                     "--min-files", "3", "--write", "--calibration-dir",
                     str(tmp_path / "cal")]) == 0
    back = calibration.for_model(res["model"], tmp_path / "cal")
    assert back is not None and back.tone_reach == pytest.approx(c.tone_reach, rel=1e-3)


def test_auroc_counts_pairs_and_shares_ties() -> None:
    cal = _load("calibrate_script", ROOT / "scripts/calibrate.py")
    import numpy as np

    assert cal.auroc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 1.0
    assert cal.auroc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 0.0
    # one outside file beats one of two inside files and ties the other
    assert cal.auroc(np.array([1.0, 2.0]), np.array([2.0])) == 0.75


def _point(t, conf, prec, cov, unk=0.02):
    by_k = {k: {"precision": prec, "coverage": cov, "unknown": unk, "open_unknown": 0.1}
            for k in ("1", "2", "4", "8")}
    return {"temperature": t, "min_confidence": conf, "unknown_factor": 2.0, "by_k": by_k,
            "precision": prec, "coverage": cov, "unknown": unk, "open_unknown": 0.1}


def test_choose_meets_the_rule_when_it_can_and_says_so_when_it_cannot() -> None:
    cal = _load("calibrate_script", ROOT / "scripts/calibrate.py")
    meets = _point(2.0, 0.7, 0.9, 0.6)
    table = [_point(2.0, 0.3, 0.5, 0.9), meets, _point(2.0, 0.9, 0.99, 0.1),
             _point(1.0, 0.5, 0.95, 0.8, unk=0.2)]  # too many in-tree unknown
    best, why = cal.choose(table)
    assert best is meets and why.startswith("highest coverage")
    # nothing meets it: the best precision that still shows a quarter of the files a leaf,
    # at every K (a point that shows few at K = 2 is out)
    shaky = _point(None, 0.3, 0.7, 0.4)
    shaky["by_k"]["2"]["coverage"] = 0.1
    table = [_point(2.0, 0.3, 0.4, 0.7), _point(2.0, 0.5, 0.5, 0.3), shaky,
             _point(2.0, 0.9, 0.8, 0.05)]
    best, why = cal.choose(table)
    assert (best["temperature"], best["min_confidence"]) == (2.0, 0.5)
    assert why.startswith("no grid point reaches 85 %")
