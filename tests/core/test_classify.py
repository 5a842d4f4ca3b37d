"""Classification, explanation, similar sounds and suggestions over known embeddings."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sqlalchemy import insert, select

from core.classify import Classifier, ClassifyError, Thresholds, load_index, window_weights
from core.library import Library, SampleRecord
from core.schema import nodes, predictions, supports, trees

DIM = 8


def add_files(lib: Library, embs: dict[str, np.ndarray],
              loudness: dict[str, list[float]] | None = None) -> dict[str, int]:
    """Files with given window embeddings (n_windows x DIM) and, optionally, their
    windows' loudness in dB (0 otherwise); returns path → sample id."""
    model = lib.ensure_model("m-1-abc", name="m", version="1", sha256="abc", dim=DIM,
                             trained=True, features={})
    loudness = loudness or {}
    recs = [SampleRecord(path=p, root_id=None, size=1, mtime_ns=1, status="ok",
                         starts=np.arange(len(e)) * 0.5,
                         loudness=np.asarray(loudness.get(p, np.zeros(len(e))), np.float32),
                         embeddings=e, model_id=model, duration_s=1.0)
            for p, e in embs.items()]
    lib.write_batch(recs)
    return {p: k.id for p, k in lib.known_samples().items()}


def make_tree(lib: Library, name: str, paths: list[str]) -> dict[str, int]:
    """A tree from node paths like 'Drums/Kick'; returns path → node id."""
    ids: dict[str, int] = {}
    with lib.transaction() as conn:
        tid = conn.execute(insert(trees).values(name=name, created_at=0.0)).inserted_primary_key[0]
        ids[""] = conn.execute(insert(nodes).values(tree_id=tid, parent_id=None, name="")
                               ).inserted_primary_key[0]
        for p in paths:
            parts = p.split("/")
            for i in range(len(parts)):
                key = "/".join(parts[: i + 1])
                if key not in ids:
                    parent = ids["/".join(parts[:i])]
                    ids[key] = conn.execute(insert(nodes).values(
                        tree_id=tid, parent_id=parent, name=parts[i], position=i)
                    ).inserted_primary_key[0]
    ids["__tree__"] = tid
    return ids


def support(lib: Library, tree: dict[str, int], node: str, sample_id: int,
            window_idx: int | None = None) -> None:
    with lib.transaction() as conn:
        conn.execute(insert(supports).values(tree_id=tree["__tree__"], node_id=tree[node],
                                             sample_id=sample_id, window_idx=window_idx,
                                             created_at=0.0))


#: These synthetic clusters are on a scale of their own: the temperature comes from the
#: supports' spread (the shipped network's fitted 2.0 is for its own embedding space).
SYNTH = Thresholds(temperature=None, min_confidence=0.7)


def test_defaults_are_the_shipped_networks_calibration() -> None:
    assert Thresholds() == Thresholds(min_confidence=0.5, unknown_factor=2.0, temperature=2.0)


def blob(center: np.ndarray, n: int, rng: np.random.Generator, spread: float = 0.1) -> np.ndarray:
    return (center + spread * rng.standard_normal((n, DIM))).astype(np.float32)


@pytest.fixture
def world(library: Library):
    """Three clusters: kicks and snares (both drums, near each other), and bass far away."""
    rng = np.random.default_rng(0)
    centers = {"kick": np.r_[3, 0, 0, 0, 0, 0, 0, 0.0], "snare": np.r_[0, 3, 0, 0, 0, 0, 0, 0.0],
               "bass": np.r_[0, 0, 0, 0, 0, 0, 12, 0.0]}
    embs = {f"/lib/{k}{i}.wav": blob(c, 1 + i % 3, rng, 0.5) for k, c in centers.items()
            for i in range(10)}
    embs["/lib/far.wav"] = blob(np.r_[0, 0, 0, 0, 40, 0, 0, 0.0], 2, rng)
    # An ambiguous file halfway between kick and snare: the leaf is uncertain, Drums is not.
    embs["/lib/between.wav"] = blob((centers["kick"] + centers["snare"]) / 2, 1, rng, 0.01)
    ids = add_files(library, embs)
    tree = make_tree(library, "prod", ["Drums/Kick", "Drums/Snare", "Bass"])
    for k, node in (("kick", "Drums/Kick"), ("snare", "Drums/Snare"), ("bass", "Bass")):
        for i in range(3):
            support(library, tree, node, ids[f"/lib/{k}{i}.wav"])
    return library, ids, tree


def stored(lib: Library, tree_id: int) -> dict[int, dict]:
    with lib.reading() as conn:
        return {r["sample_id"]: dict(r) for r in conn.execute(
            select(predictions).where(predictions.c.tree_id == tree_id)).mappings()}


def test_predicts_clusters_backs_off_and_flags_unknown(world) -> None:
    lib, ids, tree = world
    report = Classifier(lib, SYNTH).refresh("prod")
    assert (report.files, report.classes, report.supports) == (len(ids), 3, 9)
    rows = stored(lib, tree["__tree__"])
    for k, node in (("kick", "Drums/Kick"), ("snare", "Drums/Snare"), ("bass", "Bass")):
        for i in range(3, 10):
            row = rows[ids[f"/lib/{k}{i}.wav"]]
            assert row["node_id"] == tree[node] and row["leaf_id"] == tree[node]
            assert not row["unknown"] and not row["backed_off"] and row["confidence"] > 0.9
    mid = rows[ids["/lib/between.wav"]]
    assert mid["backed_off"] and mid["node_id"] == tree["Drums"] and mid["confidence"] > 0.9
    assert mid["leaf_confidence"] < 0.75
    assert rows[ids["/lib/far.wav"]]["unknown"]
    assert report.unknown == 1 and report.backed_off == 1


def test_supports_keep_their_own_label(world) -> None:
    lib, ids, tree = world
    # A kick-like file labeled Bass by the user stays Bass.
    support(lib, tree, "Bass", ids["/lib/kick9.wav"])
    Classifier(lib, SYNTH).refresh("prod")
    row = stored(lib, tree["__tree__"])[ids["/lib/kick9.wav"]]
    assert row["node_id"] == tree["Bass"] and row["confidence"] == 1.0


def test_min_confidence_controls_back_off(world) -> None:
    lib, ids, tree = world
    Classifier(lib, Thresholds(temperature=None, min_confidence=0.999999)).refresh("prod")
    rows = stored(lib, tree["__tree__"])
    assert rows[ids["/lib/between.wav"]]["node_id"] in {tree["Drums"], tree[""]}
    Classifier(lib, Thresholds(temperature=None, min_confidence=0.0)).refresh("prod")
    rows = stored(lib, tree["__tree__"])
    assert not rows[ids["/lib/between.wav"]]["backed_off"]


def test_unknown_factor_is_configurable(world) -> None:
    lib, ids, tree = world
    Classifier(lib, Thresholds(temperature=None, unknown_factor=1e6)).refresh("prod")
    assert not stored(lib, tree["__tree__"])[ids["/lib/far.wav"]]["unknown"]


def test_window_support_uses_that_window(library: Library) -> None:
    rng = np.random.default_rng(1)
    a, b = np.r_[5, 0, 0, 0, 0, 0, 0, 0.0], np.r_[0, 0, 5, 0, 0, 0, 0, 0.0]
    ids = add_files(library, {"/x/mixed.wav": np.stack([a, b]).astype(np.float32),
                              "/x/a.wav": blob(a, 1, rng), "/x/b.wav": blob(b, 1, rng),
                              "/x/q.wav": blob(b, 1, rng)})
    tree = make_tree(library, "t", ["A", "B"])
    support(library, tree, "A", ids["/x/a.wav"])
    support(library, tree, "B", ids["/x/mixed.wav"], window_idx=1)  # only its B window
    Classifier(library).refresh("t")
    assert stored(library, tree["__tree__"])[ids["/x/q.wav"]]["node_id"] == tree["B"]


def test_explain_gives_path_distances_and_nearest_supports(world) -> None:
    lib, ids, _tree = world
    clf = Classifier(lib, SYNTH)
    clf.refresh("prod")
    exp = clf.explain("prod", ids["/lib/kick5.wav"], n_supports=3)
    assert [p["node"] for p in exp["path"]] == ["Drums", "Drums/Kick"]
    # a group holds its classes' prototypes: it is as near, and at least as likely
    assert exp["path"][0]["distance"] <= exp["path"][1]["distance"]
    assert exp["path"][0]["probability"] >= exp["path"][1]["probability"]
    assert exp["path"][1]["label"] and exp["distance"] == exp["path"][0]["distance"]
    assert [s["node"] for s in exp["nearest_supports"]] == ["Drums/Kick"] * 3
    assert exp["prediction"]["node"] == "Drums/Kick"
    # the scale the app's close/near/far words use: the nearest kick examples lie within the
    # usual distance between two examples of one class, below the unknown bound
    spread = exp["example_spread"]
    assert 0 < spread < exp["unknown_distance"]
    assert exp["nearest_supports"][0]["distance"] <= spread * 1.5


def test_similar_files_and_windows_exclude_the_query(world) -> None:
    lib, ids, _tree = world
    clf = Classifier(lib, SYNTH)
    hits = clf.similar(ids["/lib/kick4.wav"], k=5)
    names = {i: p for p, i in ids.items()}
    assert len(hits) == 5 and ids["/lib/kick4.wav"] not in [h[0] for h in hits]
    assert all("kick" in names[h[0]] for h in hits)
    assert [h[2] for h in hits] == sorted(h[2] for h in hits)
    whits = clf.similar(ids["/lib/kick5.wav"], k=4, window_idx=0)
    assert all(h[0] != ids["/lib/kick5.wav"] and h[1] is not None for h in whits)
    assert all("kick" in names[h[0]] for h in whits)
    assert len(clf.similar(ids["/lib/kick4.wav"], k=10_000)) == len(ids) - 1


def test_suggest_orders_by_uncertainty_and_skips_supports(world) -> None:
    lib, ids, _tree = world
    clf = Classifier(lib, SYNTH)
    clf.refresh("prod")
    sugg = clf.suggest("prod", n=3)
    assert sugg[0][0] == ids["/lib/between.wav"]
    assert [c for _s, c in sugg] == sorted(c for _s, c in sugg)
    assert ids["/lib/kick0.wav"] not in [s for s, _c in clf.suggest("prod", n=100)]


def test_clear_errors(library: Library) -> None:
    with pytest.raises(ClassifyError, match="no file in the library has embeddings"):
        Classifier(library).refresh("x")
    add_files(library, {"/a.wav": np.ones((1, DIM), np.float32)})
    with pytest.raises(ClassifyError, match="no tree named"):
        Classifier(library).refresh("nope")
    make_tree(library, "empty", ["A"])
    with pytest.raises(ClassifyError, match="no examples yet"):
        Classifier(library).refresh("empty")


def test_cache_reloads_after_a_scan_changes_the_library(world) -> None:
    lib, _ids, _tree = world
    clf = Classifier(lib, SYNTH)
    n = clf.index().n_files
    add_files(lib, {"/lib/new.wav": np.ones((1, DIM), np.float32)})
    assert clf.index().n_files == n + 1


def test_repredict_scales(library: Library) -> None:
    """20k files x 3 windows, 16 classes: well under a second (the 100k figure is in bench/)."""
    rng = np.random.default_rng(2)
    n = 20_000
    mat = rng.standard_normal((n * 3, DIM)).astype(np.float32)
    add_files(library, {f"/big/{i:05d}.wav": mat[3 * i: 3 * i + 3] for i in range(n)})
    tree = make_tree(library, "big", [f"C{i}" for i in range(16)])
    for i in range(48):
        support(library, tree, f"C{i % 16}", i + 1)
    clf = Classifier(library)
    index = load_index(library)
    assert index.n_files == n
    t0 = time.perf_counter()
    clf.refresh("big")
    assert time.perf_counter() - t0 < 10  # generous: a correctness check, not a benchmark
    assert len(stored(library, tree["__tree__"])) == n


def test_window_weights_follow_each_files_loudest_window() -> None:
    offsets = np.array([0, 3, 4, 6])
    w = window_weights(np.array([-6.0, -26.0, -46.0, -80.0, -10.0, -10.0]), offsets)
    np.testing.assert_allclose(w, [1.0, 0.1, 0.01, 1.0, 1.0, 1.0], rtol=1e-5)


def test_a_one_shots_loud_attack_outweighs_its_quiet_tail(library: Library) -> None:
    """A one-shot whose attack is like A and whose three quiet tail windows are like B is
    an A (it was a B while every window counted the same); a loop of the same windows at
    one level stays a B."""
    rng = np.random.default_rng(3)
    a, b = np.r_[2, 0, 0, 0, 0, 0, 0, 0.0], np.r_[0, 2, 0, 0, 0, 0, 0, 0.0]
    shot = np.concatenate([blob(a, 1, rng), blob(b, 3, rng)])
    ids = add_files(library, {"/x/a.wav": blob(a, 2, rng), "/x/b.wav": blob(b, 2, rng),
                              "/x/shot.wav": shot, "/x/loop.wav": shot.copy()},
                    loudness={"/x/shot.wav": [-6.0, -30.0, -36.0, -42.0],
                              "/x/loop.wav": [-10.0, -10.5, -10.0, -11.0]})
    tree = make_tree(library, "t", ["A", "B"])
    support(library, tree, "A", ids["/x/a.wav"])
    support(library, tree, "B", ids["/x/b.wav"])
    clf = Classifier(library, Thresholds(temperature=None, min_confidence=0.5,
                                         unknown_factor=50.0))
    clf.refresh("t")
    got = stored(library, tree["__tree__"])
    assert got[ids["/x/shot.wav"]]["leaf_id"] == tree["A"]
    assert got[ids["/x/loop.wav"]]["leaf_id"] == tree["B"]
    # explain's probabilities are the same weighted mean
    exp = clf.explain("t", ids["/x/shot.wav"])
    assert exp["path"][-1]["node"] == "A"
    assert exp["path"][-1]["probability"] == pytest.approx(
        got[ids["/x/shot.wav"]]["leaf_confidence"], abs=1e-5)


def test_the_index_keeps_each_files_tone_distance_per_set_of_references() -> None:
    """The distance to the reference tones does not depend on the tree, so the index keeps
    it; other references (another model's calibration) are measured afresh."""
    from core.calibration import nearest_distance
    from core.classify import EmbeddingIndex

    rng = np.random.default_rng(0)
    files = rng.standard_normal((50, 8)).astype(np.float32)
    index = EmbeddingIndex(1, np.arange(50), files, files, np.zeros(50, np.int64),
                           np.arange(51))
    a, b = rng.standard_normal((3, 8)).astype(np.float32), rng.standard_normal((4, 8))
    got_a = index.tone_distance(a)
    np.testing.assert_allclose(got_a, nearest_distance(files, a), rtol=1e-6)
    assert index.tone_distance(a.copy()) is got_a  # kept
    got_b = index.tone_distance(b.astype(np.float32))
    np.testing.assert_allclose(got_b, nearest_distance(files, b.astype(np.float32)), rtol=1e-6)
    assert not np.allclose(got_a, got_b)
