"""``explain`` explains the label a file got (the stored prediction, as ``ls`` and
``classify`` show it), node by node, with plain distances in text and JSON alike (found by
a fresh-eyes review: its path followed the class whose *mean* was nearest, another class
than the label's whenever a class's built-ins are spread out, and --json gave squared
distances)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import core.builtins as bi
from app.cli import main
from core.classify import Classifier, file_labels
from core.library import Library, SampleRecord
from core.trees import create_tree

DIM = 8


def e(*head: float) -> np.ndarray:
    return np.r_[head, np.zeros(DIM - len(head))].astype(np.float32)


@pytest.fixture
def spread_kicks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Kick built-ins on both sides of the origin (their mean lies far from each), one
    snare built-in between: a file right on a kick is a kick, but the nearest class
    *mean* is the snare's."""
    path = tmp_path / "builtins.npz"
    np.savez(path, model_id=np.array("m-1-abc"), format=np.array(bi.FORMAT),
             trees=np.array(["producer"]), **{
                 "producer/paths": np.array(["Drums/Kick", "Drums/Snare"]),
                 "producer/node": np.array([0, 0, 1], np.int16),
                 "producer/emb": np.stack([e(6), e(-6), e(3)]).astype(np.float16),
                 "producer/spread": np.array(1.0, np.float32),
                 "producer/temperature": np.array(1.0, np.float32)})
    monkeypatch.setattr(bi, "resource_path", lambda: path)
    return path


def test_explain_follows_the_label_node_by_node(library: Library, library_path: Path,
                                                spread_kicks: Path, capsys) -> None:
    model = library.ensure_model("m-1-abc", name="m", version="1", sha256="abc", dim=DIM,
                                 trained=True, features={})
    library.write_batch([SampleRecord(
        path="/lib/kick.wav", root_id=None, size=1, mtime_ns=1, status="ok",
        starts=np.zeros(1), loudness=np.zeros(1), embeddings=e(6, 0.5)[None, :],
        model_id=model, duration_s=1.0)])
    create_tree(library, "producer", from_default="producer")
    Classifier(library).refresh("producer")
    label = file_labels(library, "producer")[0]
    assert label["node"] == label["leaf"] == "Drums/Kick"

    exp = Classifier(library).explain("producer", library.known_samples()["/lib/kick.wav"].id)
    assert [s["node"] for s in exp["path"]] == ["Drums", "Drums/Kick"]  # was Drums/Snare
    assert [s["label"] for s in exp["path"]] == [False, True]
    assert exp["path"][-1]["probability"] == pytest.approx(label["confidence"], abs=1e-4)
    # plain distances: the file lies 0.5 from a kick built-in, 3.04 from the snare's
    assert exp["path"][-1]["distance"] == pytest.approx(0.5, abs=1e-2)
    assert exp["distance"] == pytest.approx(0.5, abs=1e-2)
    assert [b["distance"] for b in exp["nearest_builtins"]] == pytest.approx(
        [0.5, np.hypot(3, 0.5), np.hypot(12, 0.5)], abs=1e-2)
    assert exp["unknown_distance"] == pytest.approx(2.0)  # 2 × the built-ins' spread of 1

    assert main(["--library", str(library_path), "explain", "producer", "/lib/kick.wav",
                 "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert main(["--library", str(library_path), "explain", "producer", "/lib/kick.wav"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Label: Drums/Kick ◦ (confidence")
    marked = [ln for ln in text.splitlines() if ln.endswith("← label")]
    assert len(marked) == 1 and marked[0].split()[-3] == "Drums/Kick"
    for step in as_json["path"]:  # the text prints the JSON's numbers
        assert f"{step['probability']:5.2f}  {step['distance']:8.3f}  {step['node']}" in text
    assert f"Nearest prototype: {as_json['distance']:.3f} (unknown beyond 2.000)" in text
