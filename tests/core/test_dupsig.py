"""The near-duplicate signature's later stretch, the batched fine check, signatures of an
older layout, and the mean embeddings kept in the library (``dup_means``)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from core import dupsig, schema
from core.duplicates import find_duplicates, mean_embeddings
from core.dupstore import (
    read_fingerprints,
    read_hashes_and_spectra,
    sample_ids_without_fingerprints,
)
from core.library import Library
from core.scanner import ScanOptions, scan
from tests.old_library import as_before

SR = 44_100


def bell(seconds: float = 1.5, phases: tuple[float, ...] = (0.0, 1.0, 2.0),
         sr: int = SR, pitch: float = 860.0) -> np.ndarray:
    """A struck bell: three slowly decaying partials (float32, mono)."""
    t = np.arange(round(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * f * t + p) * np.exp(-t / tau) * a for f, p, tau, a in
            zip((pitch, pitch * 1.593, pitch * 2.686), phases, (0.9, 0.6, 0.4),
                (1.0, 0.6, 0.4), strict=True))
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def layer(gain_db: float, sr: int = SR) -> np.ndarray:
    """Another strike of the same bell: the same waveform for 0.2 s, a few dB louder,
    then the partials drift to other phases (the decay the same)."""
    a, c = bell(sr=sr), bell(phases=(2.5, 3.0, 0.5), sr=sr)
    t = np.arange(len(a)) / sr
    w = np.clip((0.3 - t) / 0.1, 0.0, 1.0)  # 1 until 0.2 s, 0 from 0.3 s
    return (10 ** (gain_db / 20) * (a * w + c * (1 - w))).astype(np.float32)


def sig(x: np.ndarray, sr: int = SR) -> dupsig.Signature:
    y = soxr.resample(x, sr, 16_000) if sr != 16_000 else x
    s = dupsig.parse(dupsig.signature(y))
    assert s is not None
    return s


def test_velocity_layers_alike_for_a_quarter_second_are_told_apart_later(
        monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = sig(bell()), sig(layer(6.0))
    # the first quarter second says "the same recording, 6 dB louder"
    monkeypatch.setattr(dupsig, "MIN_LATE_CORR", -1.0)
    early = dupsig.compare(a, b)
    assert early.duplicate and early.wave_corr > 0.99, early
    monkeypatch.undo()
    v = dupsig.compare(a, b)
    assert not v.duplicate and v.reason == "later waveforms differ", v
    assert v.late_corr is not None and v.late_corr < dupsig.MIN_LATE_CORR
    # a real copy keeps its later waveform: louder, trimmed, resampled
    x = bell()
    copy = soxr.resample(x[int(0.03 * SR):] * 1.8, SR, 48_000)
    c = dupsig.compare(a, sig(copy, 48_000))
    assert c.duplicate and c.late_corr is not None and c.late_corr > 0.99, c


def test_batched_fine_check_gives_each_pair_its_own_verdict() -> None:
    x = bell()
    sigs = [sig(x), sig(x * 0.5), sig(x[int(0.05 * SR):]), sig(layer(6.0)),
            sig(bell(pitch=700.0)), sig(x[:40]), sig(x * 1e-5)]
    pairs = [(i, j) for i in range(len(sigs)) for j in range(len(sigs)) if i != j]
    many = dupsig.compare_many([sigs[i] for i, _ in pairs], [sigs[j] for _, j in pairs])
    assert len(many) == len(pairs)
    for (i, j), v in zip(pairs, many, strict=True):
        one = dupsig.compare(sigs[i], sigs[j])
        assert (one.duplicate, one.reason) == (v.duplicate, v.reason)
        assert one.wave_corr == pytest.approx(v.wave_corr, abs=1e-9)
    dup = {p for p, v in zip(pairs, many, strict=True) if v.duplicate}
    assert {(0, 1), (0, 2), (1, 2)} <= dup
    assert not {p for p in dup if 3 in p or 4 in p or 5 in p or 6 in p}


def _as_version_1(blob: bytes) -> bytes:
    """A signature as version 1 wrote it: no later stretch."""
    late = dupsig._LATE_HEADER.itemsize + dupsig.LATE_LEN
    end = len(blob) - dupsig.N_BANDS
    return bytes([1]) + blob[1:end - late] + blob[end:]


def test_signature_of_the_older_layout_is_read_and_refreshed_by_the_next_scan(
        library: Library, tmp_path: Path) -> None:
    x = bell()
    s1 = dupsig.parse(_as_version_1(dupsig.signature(soxr.resample(x, SR, 16_000))))
    assert s1 is not None and s1.late is None
    assert dupsig.compare(s1, sig(x * 0.5)).duplicate  # compared without the later part
    root = tmp_path / "samples"
    root.mkdir()
    sf.write(str(root / "bell.wav"), x, SR, subtype="PCM_16")
    sf.write(str(root / "bell quieter.wav"), x * 0.5, SR, subtype="PCM_16")
    scan(library, [str(root)], None, options=ScanOptions(jobs=0))
    assert not sample_ids_without_fingerprints(library)
    ids, _h, blobs = read_fingerprints(library)
    with library.transaction() as conn:
        raw = conn.connection.dbapi_connection
        raw.execute("UPDATE dup_signatures SET signature = ? WHERE sample_id = ?",
                    (_as_version_1(blobs[0]), ids[0]))
    assert sample_ids_without_fingerprints(library) == {ids[0]}
    report = scan(library, [str(root)], None, options=ScanOptions(jobs=0))
    assert report.fingerprinted == 1 and report.decoded == 0
    assert not sample_ids_without_fingerprints(library)
    assert read_fingerprints(library)[2][0][0] == dupsig.SIG_VERSION


def test_signature_heads_give_the_spectra_of_the_whole_signatures(
        library: Library, tmp_path: Path) -> None:
    root = tmp_path / "samples"
    root.mkdir()
    for k, f in enumerate((110.0, 440.0, 1500.0)):
        t = np.arange(SR) / SR
        sf.write(str(root / f"{k}.wav"), (0.3 * np.sin(2 * np.pi * f * t)
                                          * np.exp(-3 * t)).astype(np.float32), SR)
    scan(library, [str(root)], None, options=ScanOptions(jobs=0))
    ids, hashes, blobs = read_fingerprints(library)
    ids2, hashes2, heads = read_hashes_and_spectra(library)
    assert (ids2, hashes2) == (ids, hashes)
    assert all(len(h) == 1 + dupsig.N_BANDS for h in heads)
    assert np.array_equal(dupsig.spectra(heads), dupsig.spectra(blobs))
    assert np.array_equal(dupsig.peak_bands(heads), dupsig.peak_bands(blobs))
    assert len(set(dupsig.peak_bands(heads).tolist())) == 3


def _means_rows(path: Path) -> dict[int, tuple[int, float]]:
    with sqlite3.connect(str(path)) as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT sample_id, model_id, scanned_at FROM dup_means")}


def test_mean_embeddings_are_kept_and_follow_a_rescan(
        library: Library, library_path: Path, tmp_path: Path, untrained_model) -> None:
    root = tmp_path / "samples"
    root.mkdir()
    x = bell()
    sf.write(str(root / "bell.wav"), x, SR, subtype="PCM_16")
    sf.write(str(root / "bell quieter.flac"), x * 0.5, SR, subtype="PCM_24")
    sf.write(str(root / "other.wav"), bell(phases=(1.0, 2.0, 3.0)) * 0.7, SR)
    scan(library, [str(root)], untrained_model, options=ScanOptions(jobs=0))
    assert _means_rows(library_path) == {}  # filled at first use, not by the scan
    model_key = next(iter({k.model_id for k in library.known_samples().values()}))
    ids, vecs = mean_embeddings(library, model_key)
    rows = _means_rows(library_path)
    assert set(rows) == set(ids.tolist()) and len(ids) == 3
    # the next search reads them: even with the windows gone they are the same
    with library.transaction() as conn:
        conn.connection.dbapi_connection.execute("DELETE FROM windows")
    ids2, vecs2 = mean_embeddings(library, model_key)
    assert np.array_equal(ids2, ids) and np.allclose(vecs2, vecs)
    # a file written again (another scanned_at) no longer trusts its row: recomputed from
    # its windows (none left here, so it drops out)
    with library.transaction() as conn:
        conn.connection.dbapi_connection.execute(
            "UPDATE samples SET scanned_at = scanned_at + 1 WHERE id = ?", (int(ids[0]),))
    ids3, _ = mean_embeddings(library, model_key)
    assert ids3.tolist() == ids[1:].tolist()
    near = find_duplicates(library, near=True, min_cos=-1.0)
    assert near.files == 3


def test_library_from_before_the_mean_embeddings_upgrades(
        library_path: Path, tmp_path: Path, untrained_model) -> None:
    root = tmp_path / "samples"
    root.mkdir()
    x = bell()
    sf.write(str(root / "bell.wav"), x, SR, subtype="PCM_16")
    sf.write(str(root / "bell quieter.wav"), x * 0.5, SR, subtype="PCM_16")
    with Library(library_path) as lib:
        scan(lib, [str(root)], untrained_model, options=ScanOptions(jobs=0))
        before = [[m.path for m in g.members]
                  for g in find_duplicates(lib, near=True, min_cos=-1.0).groups]
    as_before(library_path, schema._dup_means, "DROP TABLE dup_means")
    with Library(library_path) as lib:
        assert lib.schema_version == schema.SCHEMA_VERSION
        assert _means_rows(library_path) == {}
        after = [[m.path for m in g.members]
                 for g in find_duplicates(lib, near=True, min_cos=-1.0).groups]
        assert after == before and len(after) == 1
        assert len(_means_rows(library_path)) == 2  # filled without re-embedding


def test_a_name_that_is_not_utf8_comes_back_as_the_same_path(library: Library,
                                                             tmp_path: Path) -> None:
    root = tmp_path / "samples"
    root.mkdir()
    x = (bell() * 32767).astype(np.int16)
    odd = os.fsdecode(os.fsencode(str(root)) + b"/bell \xff.wav")
    sf.write(str(root / "tmp.wav"), x, SR, subtype="PCM_16")
    os.rename(root / "tmp.wav", odd)
    sf.write(str(root / "bell.wav"), x, SR, subtype="PCM_16")
    scan(library, [str(root)], None, options=ScanOptions(jobs=0))
    groups = find_duplicates(library).groups
    assert len(groups) == 1
    paths = sorted(m.path for m in groups[0].members)
    assert odd in paths and all(Path(p).exists() for p in paths)


def noise_hit(seed: int, seconds: float = 1.2, sr: int = SR) -> np.ndarray:
    """A cymbal-like crash: band-limited noise decaying over a second (float32, mono)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sr)) / sr
    y = rng.standard_normal(len(t)) * np.exp(-t / 0.35)
    return (0.4 * y / np.max(np.abs(y))).astype(np.float32)


def test_a_lossy_copy_of_a_noisy_sound_is_one_recording_another_take_is_not() -> None:
    x = noise_hit(1)
    # a codec's error on noise: ~13 dB below the sound, following its envelope (the
    # waveforms then correlate ~0.97, below MIN_WAVE_CORR, low band included)
    err = noise_hit(2) * 0.22
    a, copy = sig(x), sig(x + err)
    assert min(a.flatness(), copy.flatness()) >= dupsig.NOISE_FLATNESS
    v = dupsig.compare(a, copy)
    assert dupsig.LOOSE_WAVE_CORR <= v.wave_corr < dupsig.MIN_WAVE_CORR, v
    assert v.duplicate, v  # before: "waveforms and envelopes differ a little"
    # another crash with the very same envelope is another recording
    assert not dupsig.compare(a, sig(noise_hit(3))).duplicate
    # tonal sounds keep the strict rules: a bell is far from flat
    assert sig(bell()).flatness() < 0.06


def test_spectral_centres_stay_close_where_the_loudest_band_jumps() -> None:
    def blob(levels_db: np.ndarray) -> bytes:
        levels = np.round(2 * (levels_db - levels_db.min())).astype(np.uint8)
        return bytes([dupsig.SIG_VERSION]) + levels.tobytes()

    # a flat spectrum (a crash) and a copy of it whose bands moved by up to ±0.5 dB (a
    # codec, a resampler): the loudest band jumps far, the centre stays within a half band
    rng = np.random.default_rng(1)
    flat = rng.uniform(0, 3, dupsig.N_BANDS)  # dB below the loudest, as stored
    moved = flat + rng.uniform(-0.5, 0.5, dupsig.N_BANDS)
    peaks = dupsig.peak_bands([blob(flat), blob(moved)])
    centres = dupsig.spectral_centres([blob(flat), blob(moved), None])  # in half bands
    assert abs(int(peaks[0]) - int(peaks[1])) > 3
    assert abs(int(centres[0]) - int(centres[1])) <= 1
    assert centres[2] == -100
    # two peaks of nearly one level, 12 bands apart: the loudest band jumps by 12, the
    # centre by one band
    two = np.full(dupsig.N_BANDS, -40.0)
    two[10], two[22] = 0.0, -0.5
    other = two.copy()
    other[10], other[22] = -0.5, 0.0
    peaks = dupsig.peak_bands([blob(-two), blob(-other)])
    centres = dupsig.spectral_centres([blob(-two), blob(-other)])
    assert abs(int(peaks[0]) - int(peaks[1])) == 12
    assert abs(int(centres[0]) - int(centres[1])) <= 2 and 20 < centres[0] < 44
