"""Duplicates: the decoded-audio hash, the near-duplicate fine check, groups and keepers,
the quarantine through the relabel journal, and fingerprints of an older library."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from core import dupsig
from core.duplicates import (
    candidate_pairs,
    exact_groups,
    find_duplicates,
    plan_quarantine,
    quarantine,
)
from core.dupstore import read_fingerprints, sample_ids_without_fingerprints
from core.errors import RelabelError
from core.library import Library
from core.relabel import undo_batch
from core.scanner import ScanOptions, scan
from core.schema import dup_signatures, windows

SR = 44_100


def note(freq: float, seconds: float = 1.2, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A plucked note: harmonics decaying, a noisy attack (float32, mono)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sr)) / sr
    phase = rng.uniform(0, 2 * np.pi, 6) if seed else np.arange(6.0)
    y = sum(np.sin(2 * np.pi * freq * k * t + phase[k]) * np.exp(-t * (3 + 2 * k)) / k
            for k in range(1, 6))
    y = y + 0.2 * rng.standard_normal(len(t)) * np.exp(-t * 40)
    return (0.4 * y / np.max(np.abs(y))).astype(np.float32)


def pcm16(x: np.ndarray) -> np.ndarray:
    return np.round(x * 32767).astype(np.int16)


def write(path: Path, data: np.ndarray, sr: int = SR, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr, **kw)
    return path


def scan_here(lib: Library, folder: Path, model=None):
    return scan(lib, [str(folder)], model, options=ScanOptions(jobs=0))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def exact_set(tmp_path: Path) -> Path:
    root = tmp_path / "samples"
    x = pcm16(np.stack([note(220.0), note(221.0, seed=3)], axis=1))  # stereo
    write(root / "pack" / "snare.wav", x, subtype="PCM_16")
    write(root / "flac" / "snare.flac", x, subtype="PCM_16")
    (root / "tagged").mkdir()
    with sf.SoundFile(str(root / "tagged" / "snare copy.wav"), "w", SR, 2,
                      subtype="PCM_16", format="WAV") as fh:
        fh.title, fh.artist, fh.comment = "Snare", "someone", "another metadata chunk"
        fh.write(x)
    other = x.copy()
    other[1000, 0] += 1  # one sample differs
    write(root / "other" / "snare one sample off.wav", other, subtype="PCM_16")
    write(root / "other" / "tom.wav", pcm16(note(110.0)), subtype="PCM_16")
    return root


def test_exact_duplicates_across_containers_and_tags(library: Library, exact_set: Path) -> None:
    scan_here(library, exact_set)
    assert (exact_set / "pack" / "snare.wav").read_bytes() != \
        (exact_set / "tagged" / "snare copy.wav").read_bytes()  # other chunks: other bytes
    report = find_duplicates(library)
    assert len(report.groups) == 1
    g = report.groups[0]
    names = sorted(Path(m.path).name for m in g.members)
    assert names == ["snare copy.wav", "snare.flac", "snare.wav"]
    assert g.kind == "exact" and all(m.match in ("keeper", "exact") for m in g.members)
    # all three lossless 16-bit 44.1 kHz stereo: the shortest path is kept
    assert g.keeper.path == min((m.path for m in g.members), key=lambda p: (len(p), p))
    assert "shortest path" in g.reason
    # a file one sample off, and another sound, are in no group
    grouped = set(exact_groups(library))
    paths = library.paths_of(list(grouped))
    assert not any("one sample off" in p or "tom" in p for p in paths.values())
    assert len(grouped) == 3
    # scanned without the network: near duplicates cannot be looked for, and it says so
    near = find_duplicates(library, near=True)
    assert "embedded" in near.note and len(near.groups) == 1


def test_an_example_is_kept_before_an_equal_copy(library: Library, exact_set: Path) -> None:
    """Same quality: a file a tree learns from is kept, whatever its path's length (the
    shortest path once put a stray copy first and sent the example to quarantine)."""
    from core.supports import add_supports
    from core.trees import add_node, create_tree

    scan_here(library, exact_set)
    example = str(exact_set / "tagged" / "snare copy.wav")  # the longest path of the three
    create_tree(library, "mine")
    add_node(library, "mine", "Drums/Snare")
    add_supports(library, "mine", "Drums/Snare", [example])
    g = find_duplicates(library).groups[0]
    assert g.keeper.path == example and g.keeper.example
    assert g.reason.endswith("an example in a tree")
    assert [m.as_dict()["example"] for m in g.members if not m.keep] == [False, False]


def test_keeper_prefers_depth_then_lossless_then_rate(library: Library, tmp_path: Path) -> None:
    from core.duplicates import Member, keeper_reason, quality_key

    def m(i, path, fmt, sub, rate):
        return Member(i, path, fmt, sub, rate, 2, 100, 1.0)

    ms = [m(1, "/a/k.mp3", "MP3", "MPEG_LAYER_III", 48_000),
          m(2, "/a/long/name/k.wav", "WAV", "PCM_16", 44_100),
          m(3, "/a/k24.wav", "WAV", "PCM_24", 44_100),
          m(4, "/a/k96.flac", "FLAC", "PCM_16", 96_000)]  # a 16-bit copy upsampled
    ms.sort(key=quality_key)
    # the 24-bit original before the upsampled 16-bit copy (the rate ranked first before)
    assert [x.sample_id for x in ms] == [3, 4, 2, 1]
    assert "bit depth" in keeper_reason(ms[0], ms[1:])
    assert "sample rate" in keeper_reason(ms[1], ms[2:])
    assert "lossless" in keeper_reason(ms[2], [ms[3]])
    # a float file counts as 24-bit: the rate decides between it and the 24-bit file
    f48 = m(5, "/a/k float.wav", "WAV", "FLOAT", 48_000)
    f44 = m(6, "/a/k float 44.wav", "WAV", "FLOAT", 44_100)
    assert min([f44, ms[0]], key=quality_key) is ms[0]  # shorter path among equals
    assert min([f48, ms[0]], key=quality_key) is f48


def test_keeper_among_equal_copies_prefers_a_name_that_states_tempo_and_key() -> None:
    from core.duplicates import Member, keeper_reason, quality_key

    def m(i, path, example=False):
        return Member(i, path, "WAV", "PCM_24", 44_100, 2, 100, 2.0, example=example)

    plain, named = m(1, "/a/Loop.wav"), m(2, "/a/drums/Loop_124bpm_Am.wav")
    assert min([plain, named], key=quality_key) is named
    assert keeper_reason(named, [plain]).endswith("its name states tempo, key or note")
    # an example in a tree still comes first, and quality before either
    assert min([m(3, "/a/Loop.wav", example=True), named], key=quality_key).sample_id == 3
    better = Member(4, "/a/x/y/z/Loop.flac", "FLAC", "PCM_24", 48_000, 2, 100, 2.0)
    assert min([named, better], key=quality_key) is better


@pytest.mark.parametrize("copy_name", [
    "Snare exact copy.wav", "Snare copy.wav", "Snare copy 2.wav", "Copy of Snare.wav",
    "Copy (2) of Snare.wav", "Snare - Copy.wav", "Snare - Copy (2).wav", "Snare_copy.wav",
    "Snare-copy3.wav", "Snare (1).wav", "Snare(2).WAV", "Snare - Kopie.wav",
    "Copie de Snare.wav"])
def test_looks_like_a_copy(copy_name: str) -> None:
    from core.duplicates import looks_like_a_copy

    assert looks_like_a_copy(f"/lib/Dupes/{copy_name}")


@pytest.mark.parametrize("name", [
    "Snare.wav", "Kick 2.wav", "Copycat.wav", "Copy.wav", "Snare Standard v106.wav",
    "photocopy.wav", "Hat (open).wav", "copyright kick.wav", "Tom 3 (2nd take).wav"])
def test_not_a_copy_name(name: str) -> None:
    from core.duplicates import looks_like_a_copy

    assert not looks_like_a_copy(f"/lib/copy of/{name}")  # the folder's name is no sign


def test_keeper_among_equal_copies_is_not_the_one_named_as_a_copy() -> None:
    """The reviewer's case: ``Dupes/Snare exact copy.wav`` (shorter path) was kept and the
    original would have been quarantined."""
    from core.duplicates import Member, best_first, keeper_reason, quality_key

    def m(i, path, example=False):
        return Member(i, path, "WAV", "PCM_16", 44_100, 2, 100, 1.0, example=example)

    orig = m(1, "/lib/Drums/Snares/Snare Standard v106.wav")
    copy = m(2, "/lib/Dupes/Snare exact copy.wav")
    assert len(copy.path) < len(orig.path)
    ms = best_first([copy, orig])
    assert ms[0] is orig
    assert keeper_reason(orig, [copy]).endswith("; not named as a copy")
    # Finder, Windows and browser copies of one file, in any order: the original first
    names = ["k copy.wav", "k copy 2.wav", "Copy of k.wav", "k - Copy.wav", "k (1).wav", "k.wav"]
    group = [m(i, f"/x/{n}") for i, n in enumerate(names)]
    assert min(group, key=quality_key).path == "/x/k.wav"
    # among copies only, the shortest path as before, and the reason says so
    a, b = m(7, "/x/k copy.wav"), m(8, "/x/longer/k (1).wav")
    assert best_first([b, a])[0] is a and keeper_reason(a, [b]).endswith("shortest path")
    # an example in a tree still comes first, and quality before either
    assert best_first([orig, m(3, copy.path, example=True)])[0].sample_id == 3
    better = Member(4, "/lib/Dupes/Snare copy.flac", "FLAC", "PCM_24", 48_000, 2, 100, 1.0)
    assert best_first([orig, better])[0] is better


def test_scanned_copy_is_not_the_keeper(library: Library, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    x = pcm16(note(180.0, seed=5))
    write(root / "Drums" / "Snares" / "Snare Standard v106.wav", x, subtype="PCM_16")
    write(root / "Dupes" / "Snare exact copy.wav", x, subtype="PCM_16")
    scan_here(library, root)
    g = find_duplicates(library).groups[0]
    assert g.keeper.path.endswith("Snare Standard v106.wav")
    assert "not named as a copy" in g.reason


def _sig(x: np.ndarray, sr: int = SR) -> dupsig.Signature:
    y = soxr.resample(x, sr, 16_000) if sr != 16_000 else x
    s = dupsig.parse(dupsig.signature(y))
    assert s is not None
    return s


@pytest.mark.parametrize("change", ["gain", "trim", "pad", "resample", "all"])
def test_fine_check_accepts_edited_copies(change: str) -> None:
    x = note(196.0)
    if change == "gain":
        y = x * 10 ** (-6 / 20)
    elif change == "trim":
        y = x[int(0.07 * SR):]
    elif change == "pad":
        y = np.concatenate([np.zeros(int(0.09 * SR), np.float32), x])
    elif change == "resample":
        y = soxr.resample(x, SR, 22_050)
    else:
        y = soxr.resample(x[int(0.03 * SR):] * 2.0, SR, 48_000)
    v = dupsig.compare(_sig(x), _sig(y, 22_050 if change == "resample"
                                     else 48_000 if change == "all" else SR))
    assert v.duplicate, v


def test_fine_check_rejects_other_notes_and_takes() -> None:
    a = _sig(note(196.0))
    # other notes of the instrument, and another take of the same note
    for other in (note(207.65), note(220.0), note(196.0, seed=7)):
        v = dupsig.compare(a, _sig(other))
        assert not v.duplicate, v


def test_candidates_are_nearest_neighbours_within_the_duration_tolerance() -> None:
    rng = np.random.default_rng(0)
    v = rng.standard_normal((500, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    v[7] = v[3]
    v[9] = v[3]
    d = rng.uniform(0.1, 10, 500)
    d[7] = d[3] + 0.1
    d[9] = d[3] + 5.0  # same embedding, another length: not a candidate
    pairs = {tuple(p) for p in candidate_pairs(v, d, min_cos=0.99, block=64).tolist()}
    assert (3, 7) in pairs and (3, 9) not in pairs and (7, 9) not in pairs
    # with room for every neighbour: exactly the pairs a brute force finds
    brute = {(i, j) for i in range(500) for j in range(i + 1, 500)
             if v[i] @ v[j] >= 0.3 and abs(d[i] - d[j]) <= dupsig.DURATION_TOLERANCE_S}
    got = {tuple(sorted(p)) for p in candidate_pairs(
        v, d, min_cos=0.3, neighbours=500, block=64).tolist()}
    assert got == brute
    # one neighbour each: every row's best match only
    one = {tuple(sorted(p)) for p in candidate_pairs(
        v, d, min_cos=0.3, neighbours=1, block=64).tolist()}
    assert one <= brute and len(one) <= 500 and (3, 7) in one


@pytest.fixture
def near_set(tmp_path: Path) -> Path:
    root = tmp_path / "samples"
    x = note(196.0)
    write(root / "inst" / "G3.flac", x, subtype="PCM_24")
    write(root / "inst" / "G#3.flac", note(207.65), subtype="PCM_24")
    write(root / "inst" / "A3.flac", note(220.0), subtype="PCM_24")
    write(root / "edits" / "G3 quieter.wav", x * 0.5, subtype="PCM_16")
    write(root / "edits" / "G3 trimmed.ogg", x[int(0.05 * SR):], format="OGG",
          subtype="VORBIS")
    return root


def test_near_duplicates_of_gain_changed_and_trimmed_copies(
        library: Library, near_set: Path, untrained_model) -> None:
    scan_here(library, near_set, untrained_model)
    assert find_duplicates(library).groups == []  # no exact duplicate here
    report = find_duplicates(library, near=True, min_cos=-1.0)
    assert len(report.groups) == 1, [[m.path for m in g.members] for g in report.groups]
    g = report.groups[0]
    assert sorted(Path(m.path).name for m in g.members) == [
        "G3 quieter.wav", "G3 trimmed.ogg", "G3.flac"]
    assert Path(g.keeper.path).name == "G3.flac"  # lossless 24-bit
    assert g.kind == "near" and all(m.match == "near" for m in g.extras)
    quieter = next(m for m in g.members if "quieter" in m.path)
    assert quieter.gain_db == pytest.approx(-6.0, abs=0.6)  # against the keeper


def test_quarantine_moves_through_the_journal_and_undo_restores(
        library: Library, exact_set: Path, tmp_path: Path) -> None:
    scan_here(library, exact_set)
    before = {p: sha(p) for p in exact_set.rglob("*.*")}
    groups = find_duplicates(library).groups
    dest = tmp_path / "quarantine"
    with pytest.raises(RelabelError, match="inside"):
        plan_quarantine(library, groups, exact_set / "q")
    report = quarantine(library, groups, dest)
    assert report.state == "applied" and report.done == 2
    keeper = groups[0].keeper.path
    assert Path(keeper).exists()
    moved = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.*"))
    assert len(moved) == 2 and all(m.startswith("samples/") for m in moved)
    for m in groups[0].extras:
        assert not Path(m.path).exists()
    # the library follows: same ids, new paths
    paths = library.paths_of([m.sample_id for m in groups[0].extras])
    assert all(p.startswith(str(dest)) for p in paths.values())
    assert find_duplicates(library).groups == []  # the moved copies are out of the search
    undo = undo_batch(library, report.batch_id)
    assert undo.state == "undone" and undo.restored == 2
    after = {p: sha(p) for p in exact_set.rglob("*.*")}
    assert after == before  # every file back, byte-identical
    assert not list(dest.rglob("*.*"))


def test_copies_or_keepers_replaced_since_the_scan_are_not_quarantined(
        library: Library, exact_set: Path, tmp_path: Path) -> None:
    """Trust review: a copy (or the keeper) overwritten with other audio after the scan
    was still moved to the quarantine as a duplicate of bytes it no longer holds. Both are
    left out now ("changed"); a copy only touched (same bytes) still goes."""
    scan_here(library, exact_set)
    groups = find_duplicates(library).groups
    g = groups[0]
    extras = sorted(m.path for m in g.extras)
    replaced, touched = Path(extras[0]), Path(extras[1])
    write(replaced, pcm16(note(330.0, seed=7)), subtype="PCM_16")  # other audio, same name
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 10**10))
    skipped: dict[str, int] = {}
    _batch, ops = plan_quarantine(library, groups, tmp_path / "q", skipped_out=skipped)
    assert skipped == {"changed": 1}
    assert [op["src"] for op in ops] == [str(touched)]

    write(Path(g.keeper.path), pcm16(note(440.0, seed=8)), subtype="PCM_16")
    skipped = {}
    _batch, ops = plan_quarantine(library, groups, tmp_path / "q2", skipped_out=skipped)
    assert ops == [] and skipped == {"changed": 2}


def test_an_older_library_gets_fingerprints_on_the_next_scan_without_reembedding(
        library: Library, exact_set: Path, untrained_model) -> None:
    scan_here(library, exact_set, untrained_model)
    with library.reading() as conn:
        emb_before = sorted(conn.execute(windows.select()).all())
    with library.transaction() as conn:  # as a library scanned before duplicates existed
        conn.execute(dup_signatures.delete())
    assert len(sample_ids_without_fingerprints(library)) == 5
    assert find_duplicates(library).groups == []
    report = scan_here(library, exact_set, untrained_model)
    assert report.fingerprinted == 5 and report.decoded == 0 and report.embedded_windows == 0
    assert report.unchanged == 5
    with library.reading() as conn:
        assert sorted(conn.execute(windows.select()).all()) == emb_before
    assert not sample_ids_without_fingerprints(library)
    assert len(find_duplicates(library).groups) == 1
    again = scan_here(library, exact_set, untrained_model)
    assert again.fingerprinted == 0 and again.decoded == 0


def test_changed_or_broken_file_updates_its_fingerprint(library: Library,
                                                        exact_set: Path) -> None:
    scan_here(library, exact_set)
    assert len(find_duplicates(library).groups) == 1
    (exact_set / "flac" / "snare.flac").write_text("now text\n")
    write(exact_set / "tagged" / "snare copy.wav", pcm16(note(300.0)), subtype="PCM_16")
    scan_here(library, exact_set)
    ids, _h, _s = read_fingerprints(library)
    assert len(ids) == 4  # the broken file lost its row
    assert find_duplicates(library).groups == []


def tom(strike: int, level: float, seconds: float = 1.0) -> np.ndarray:
    """One velocity layer of a tom: the same ringing modes every strike, the stick's
    thump and a little of the decay that differ from strike to strike (float32, mono)."""
    t = np.arange(round(seconds * SR)) / SR
    modes = [(98.0, 0.35, 1.0, 0.3), (156.0, 0.25, 0.6, 1.1), (231.0, 0.18, 0.4, 2.0)]
    ring = sum(a * np.exp(-t / tau) * np.sin(2 * np.pi * f * t + ph)
               for f, tau, a, ph in modes)
    rng = np.random.default_rng(strike)

    def low(x: np.ndarray) -> np.ndarray:
        spec = np.fft.rfft(x)
        spec[np.fft.rfftfreq(len(x), 1 / SR) > 400] = 0
        return np.fft.irfft(spec, len(x))

    thump = 12 * low(rng.standard_normal(len(t)) * np.exp(-t / 0.012))
    other = 0.6 * low(rng.standard_normal(len(t)) * np.exp(-t / 0.3))
    y = ring + thump + other
    return (0.5 * level * y / np.max(np.abs(y))).astype(np.float32)


def test_a_copy_trimmed_past_the_strike_joins_its_own_layer_only(
        library: Library, tmp_path: Path, untrained_model) -> None:
    # Two velocity layers of one tom, and a copy of the first trimmed 120 ms into its
    # decay: what is left is the decay both layers share (the check finds the copy alike
    # to both, 0.9997 and 0.99), but the layers themselves differ. Before, the copy
    # joined the two layers (and their copies) into one group.
    a, b = tom(1, 1.0), tom(2, 0.6)
    t = a[int(0.12 * SR):]
    assert dupsig.compare(_sig(t), _sig(b)).duplicate  # the look-alike the groups resolve
    assert not dupsig.compare(_sig(a), _sig(b)).duplicate
    root = tmp_path / "samples"
    write(root / "kit" / "Tom-1.flac", a, subtype="PCM_24")
    write(root / "kit" / "Tom-2.flac", b, subtype="PCM_24")
    write(root / "kit" / "Tom-2 louder.wav", b * 1.5, subtype="PCM_24")
    write(root / "edits" / "Tom-1 trimmed.wav", t, subtype="PCM_24")
    scan_here(library, root, untrained_model)
    groups = find_duplicates(library, near=True, min_cos=-1.0).groups
    names = sorted(sorted(Path(m.path).name for m in g.members) for g in groups)
    assert names == [["Tom-1 trimmed.wav", "Tom-1.flac"], ["Tom-2 louder.wav", "Tom-2.flac"]]
