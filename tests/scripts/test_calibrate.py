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
