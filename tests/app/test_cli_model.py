"""The model commands' contract: corpus build, train, evaluate."""

from __future__ import annotations

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
