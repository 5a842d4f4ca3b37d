"""A synthetic corpus on the real taxonomy's class names, for training and evaluation tests."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from models.corpus import CLIP, SR, Clip
from models.taxonomy import Taxonomy

TOY = {
    "train": ["Violin", "Cello", "Nylon Guitar", "Steel Guitar", "Trumpet", "French Horn",
              "Snare", "Tom"],
    "val": ["Acoustic Grand Piano", "Koto", "Bassoon", "Cuica"],
    "test": ["Contrabass", "Jazz Guitar", "Trombone", "Kick"],
}


def _sound(cls_index: int, rng: np.random.Generator) -> np.ndarray:
    """A class-specific timbre (harmonic tilt and decay) at a random pitch over 2 octaves:
    pitch does not tell the classes apart, so a net has to learn timbre."""
    t = np.arange(CLIP) / SR
    f0 = 110 * 2 ** rng.uniform(0, 2)
    tilt = 0.3 + 0.6 * ((cls_index * 7) % 5) / 5
    decay = 1.0 + 4.0 * ((cls_index * 3) % 4)
    y = sum(tilt ** h * np.sin(2 * np.pi * f0 * (h + 1) * t) for h in range(6))
    y = y * np.exp(-decay * t) + 0.01 * rng.standard_normal(CLIP)
    return (0.8 * y / np.abs(y).max() * 32767).astype(np.int16)


@pytest.fixture(scope="session")
def toy_corpus(tmp_path_factory) -> Path:
    tx = Taxonomy.load()
    root = tmp_path_factory.mktemp("corpus")
    names = [c for split in ("train", "val", "test") for c in TOY[split]]
    for c in names:
        assert c in tx.classes, c
    rng = np.random.default_rng(0)
    audio, meta = [], []
    for i, c in enumerate(names):
        for j in range(24):
            audio.append(_sound(i, rng))
            meta.append(Clip(c, f"font{j % 2}", f"group{j % 2}", "note", 60, 100, 1.0))
    np.save(root / "clips.npy", np.stack(audio))
    with (root / "clips.jsonl").open("w") as fh:
        for m in meta:
            fh.write(json.dumps(asdict(m)) + "\n")
    (root / "report.json").write_text(json.dumps(
        {"clips": len(meta), "hours": 0.1, "seed": 0, "fonts": [{"name": "toy"}]}))
    return root
