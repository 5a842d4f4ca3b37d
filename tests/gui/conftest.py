"""Fixtures of the desktop app's tests (pytest-qt, offscreen)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DIM = 8
CENTERS = {
    "kick": np.r_[3, 0, 0, 0, 0, 0, 0, 0.0],
    "snare": np.r_[0, 3, 0, 0, 0, 0, 0, 0.0],
    "bass": np.r_[0, 0, 0, 0, 0, 0, 12, 0.0],
}


def synthetic_library(path: Path, per_class: int = 10, seed: int = 0) -> dict[str, int]:
    """A library of embedded (synthetic) files in three clusters: kicks and snares near
    each other, bass far away; a tree "mine" with Drums/Kick, Drums/Snare and Bass.
    Returns file name → sample id."""
    from core.library import Library, SampleRecord
    from core.trees import add_node, create_tree

    rng = np.random.default_rng(seed)
    lib = Library(path)
    model = lib.ensure_model("m-1-abc", name="m", version="1", sha256="abc", dim=DIM,
                             trained=True, features={})
    recs = []
    for kind, center in CENTERS.items():
        for i in range(per_class):
            n = 1 + i % 3
            emb = (center + 0.4 * rng.standard_normal((n, DIM))).astype(np.float32)
            recs.append(SampleRecord(
                path=f"/lib/{kind}s/{kind}{i:02d}.wav", root_id=None, size=1, mtime_ns=1,
                status="ok", starts=np.arange(n) * 0.5, loudness=np.zeros(n), embeddings=emb,
                model_id=model, duration_s=0.5 + n * 0.5, format="wav"))
    lib.write_batch(recs)
    create_tree(lib, "mine")
    for node in ("Drums/Kick", "Drums/Snare", "Bass"):
        add_node(lib, "mine", node)
    ids = {os.path.basename(p): k.id for p, k in lib.known_samples().items()}
    lib.close()
    return ids


@pytest.fixture
def synth_library(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    path = tmp_path / "library.sqlite"
    return path, synthetic_library(path)


@pytest.fixture
def settings(tmp_path: Path):
    from app.gui.settings import Settings

    return Settings(tmp_path / "settings.ini")


@pytest.fixture
def session(qtbot, synth_library, settings) -> Iterator[object]:
    from app.gui.session import Session

    s = Session(synth_library[0], settings)
    s.reload()
    qtbot.waitUntil(lambda: s.loaded, timeout=10_000)
    yield s
    s.close()


@pytest.fixture
def disk_session(qtbot, tmp_path, settings):
    """The synthetic library with its files on disk (under tmp_path/lib)."""
    from app.gui.session import Session

    path = tmp_path / "library.sqlite"
    synthetic_library(path)
    lib = tmp_path / "lib"
    con = sqlite3.connect(str(path))
    for (old,) in con.execute("SELECT path FROM samples").fetchall():
        new = lib / old.removeprefix("/lib/")
        new.parent.mkdir(parents=True, exist_ok=True)
        new.write_bytes(b"RIFF")
        st = new.stat()  # as a scan records it (relabel leaves out files changed since)
        con.execute("UPDATE samples SET path=?, size=?, mtime_ns=? WHERE path=?",
                    (str(new), st.st_size, st.st_mtime_ns, old))
    con.commit()
    con.close()
    s = Session(path, settings)
    s.reload()
    qtbot.waitUntil(lambda: s.loaded, timeout=10_000)
    yield s, lib
    s.close()
