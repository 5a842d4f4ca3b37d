"""The model commands' contract: corpus build, train, evaluate."""

from __future__ import annotations

import pytest

from app.cli import main


def test_train_without_a_corpus_is_one_clear_error(tmp_path, capsys):
    rc = main(["--library", str(tmp_path / "l.sqlite"), "train", "--corpus",
               str(tmp_path / "none"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1
    assert err[0].startswith("sampletree: error: no corpus in") and "corpus build" in err[0]


def test_evaluate_missing_weights_is_one_clear_error(tmp_path, capsys):
    rc = main(["evaluate", str(tmp_path / "x.pt"), "--corpus", str(tmp_path), "--out",
               str(tmp_path / "e")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "corpus" in err[0]


def test_train_height_above_the_root_is_refused(tmp_path, capsys, monkeypatch):
    import numpy as np

    from models.corpus import CLIP

    np.save(tmp_path / "clips.npy", np.zeros((0, CLIP), np.int16))
    (tmp_path / "clips.jsonl").write_text("")
    rc = main(["train", "--corpus", str(tmp_path), "--out", str(tmp_path / "r"),
               "--height", "5"])
    assert rc == 1
    assert "height 5 is above the tree's root" in capsys.readouterr().err


def test_train_pitch_options_reach_the_augmentation_and_the_recorded_command(
        tmp_path, monkeypatch):
    import models.train as mt

    seen = {}
    monkeypatch.setattr(mt, "train", lambda cfg: seen.setdefault("cfg", cfg))
    assert main(["train", "--corpus", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--pitch-semitones", "2", "--p-pitch", "0.8"]) == 0
    cfg = seen["cfg"]
    assert (cfg.augment_config.pitch_semitones, cfg.augment_config.p_pitch) == (2.0, 0.8)
    args = mt._cli_args(cfg)
    assert args[args.index("--pitch-semitones") + 1] == "2.0"
    assert args[args.index("--p-pitch") + 1] == "0.8"
    # the defaults stay out of the recorded command
    assert "--pitch-semitones" not in mt._cli_args(mt.TrainConfig(corpus="c", out="o"))
    with pytest.raises(SystemExit) as e:
        main(["train", "--out", str(tmp_path / "r"), "--p-pitch", "1.5"])
    assert e.value.code == 2
