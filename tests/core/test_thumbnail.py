"""Waveform thumbnails: the envelope of known signals, its size, segments merged equal to
one pass, stored at scan time, kept by a rescan, and made for an older library's files by
the next scan without embedding them again."""

from __future__ import annotations

import itertools
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core import schema, thumbnail
from core.audio import WindowParams, decode_segment, plan_segments, probe
from core.library import Library
from core.scanner import ScanOptions, _file_peaks, scan
from tests.old_library import as_before

INLINE = ScanOptions(jobs=0)
SR = 16_000


def kick(seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    freq = 50 + 100 * np.exp(-t * 30)
    return (0.9 * np.exp(-t * 8) * np.sin(2 * np.pi * np.cumsum(freq) / sr)).astype(np.float32)


def sine(seconds: float = 2.0, sr: int = SR, amp: float = 1.0) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def codes(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    raw = np.frombuffer(blob, np.uint8).astype(int)
    return raw[:thumbnail.COLUMNS], raw[thumbnail.COLUMNS:]


# -- the envelope itself ---------------------------------------------------------------------

def test_kick_has_its_attack_first_then_decays() -> None:
    peak, rms = codes(thumbnail.envelope_of(kick()))
    assert peak[:2].max() >= 250  # 0.9 ≈ -0.9 dBFS: the attack reaches the top
    assert peak.argmax() <= 1
    # decays: non-increasing apart from a code of rounding, and well down by the end
    assert (np.diff(peak) <= 1).all()
    assert peak[-1] < peak[0] - 150
    # still visible near the end (the dB scale keeps quiet tails): 0.9·e^-8 ≈ -62 dB is
    # below the floor, but three quarters in (-53 dB) is not
    assert peak[3 * thumbnail.COLUMNS // 4] > 0
    assert (rms <= peak).all()


def test_steady_sine_is_flat_and_full_height() -> None:
    peak, rms = codes(thumbnail.envelope_of(sine(amp=1.0)))
    assert peak.min() >= 254 and peak.max() == 255
    # RMS of a sine is peak / √2 (-3 dB): flat too
    expected = round((20 * np.log10(1 / np.sqrt(2)) - thumbnail.FLOOR_DB)
                     / -thumbnail.FLOOR_DB * 255)
    assert np.abs(rms - expected).max() <= 1


def test_silence_is_flat_zero() -> None:
    blob = thumbnail.envelope_of(np.zeros(SR, np.float32))
    assert blob == bytes(thumbnail.BYTES)
    peak, rms = thumbnail.decode(blob)
    assert peak.max() == 0 and rms.max() == 0


def test_size_is_fixed_whatever_the_length() -> None:
    for n in (1, 10, thumbnail.COLUMNS - 1, SR // 10, 10 * SR):
        assert len(thumbnail.envelope_of(sine(n / SR))) == thumbnail.BYTES <= 200


def test_partials_over_disjoint_ranges_merge_to_one_pass() -> None:
    y = np.concatenate([kick(0.7), sine(1.3, amp=0.3), np.zeros(SR // 3, np.float32)])
    whole = thumbnail.envelope_of(y)
    cuts = [0, 1234, 5000, 5001, 20_000, len(y)]
    parts = [thumbnail.partial(y[a:b], a, a, b, len(y)) for a, b in itertools.pairwise(cuts)]
    merged = thumbnail.encode(thumbnail.merge(reversed(parts)))
    assert codes(merged)[0].tolist() == codes(whole)[0].tolist()
    assert np.abs(codes(merged)[1] - codes(whole)[1]).max() <= 1


# -- through the decoder ------------------------------------------------------------------------

def test_decoded_in_segments_equals_one_segment(tmp_path: Path) -> None:
    """A 7 s file at 44.1 kHz decoded in 2 s segments (as long files are, in 30 s ones)
    gives the envelope of the same file decoded in one segment."""
    path = tmp_path / "long.wav"
    y44 = np.concatenate([kick(2.0, 44_100), sine(3.0, 44_100, 0.5), kick(2.0, 44_100)])
    sf.write(str(path), y44, 44_100)
    info = probe(path)
    small, big = WindowParams(segment_s=2.0), WindowParams(segment_s=600.0)
    plan = plan_segments(info, small)
    assert len(plan) >= 3
    segs = [decode_segment(path, info, small, *span) for span in plan]
    (one,) = [decode_segment(path, info, big, *span) for span in plan_segments(info, big)]
    merged, single = _file_peaks(segs), _file_peaks([one])
    assert merged is not None and single is not None
    assert np.abs(codes(merged)[0] - codes(single)[0]).max() <= 1
    assert np.abs(codes(merged)[1] - codes(single)[1]).max() <= 1
    # the shape is the file's: loud kick, steady middle, second kick
    peak = codes(merged)[0]
    n = thumbnail.COLUMNS
    assert peak[0] >= 245 and peak[int(n * 2 / 7) + 1] < peak[0]
    assert np.ptp(peak[int(n * 2.3 / 7):int(n * 4.7 / 7)]) <= 2
    assert peak[int(n * 5 / 7)] >= 245  # the column holding 5.0 s


def test_no_envelope_when_thumbnails_are_off(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(str(path), sine(1.0), SR)
    info = probe(path)
    p = WindowParams()
    seg = decode_segment(path, info, p, *plan_segments(info, p)[0], envelope=False)
    assert seg.envelope is None and _file_peaks([seg]) is None


# -- in the library -----------------------------------------------------------------------------

def stored(library_path: Path) -> dict[str, bytes]:
    with sqlite3.connect(str(library_path)) as conn:
        return {p: bytes(d) for p, d in conn.execute(
            "SELECT s.path, p.data FROM peaks p JOIN samples s ON s.id = p.sample_id")}


def windows_blob(library_path: Path) -> list[tuple]:
    with sqlite3.connect(str(library_path)) as conn:
        return conn.execute("SELECT sample_id, idx, embedding, model_id FROM windows "
                            "ORDER BY sample_id, idx").fetchall()


def test_stored_at_scan_and_kept_by_rescan(library: Library, library_path: Path,
                                           write_audio, tmp_path: Path) -> None:
    write_audio("a.wav", seconds=1.0)
    write_audio("b.flac", seconds=2.5, amp=0.1)
    bad = tmp_path / "samples" / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    root = str(tmp_path / "samples")
    scan(library, [root], None, options=INLINE)
    first = stored(library_path)
    assert sorted(Path(p).name for p in first) == ["a.wav", "b.flac"]  # not the bad file
    assert all(len(b) == thumbnail.BYTES for b in first.values())
    # b is quieter: a lower level in every column
    a, b = (codes(first[str(tmp_path / "samples" / n)])[0] for n in ("a.wav", "b.flac"))
    assert a.min() > b.max()
    again = scan(library, [root], None, options=INLINE)
    assert again.decoded == 0 and again.thumbnails_added == 0
    assert stored(library_path) == first
    assert thumbnail.read_peaks(library, [1, 2, 3, 999]) == {
        i: first[p] for i, p in library.paths_of([1, 2, 3]).items() if p in first}


def test_changed_file_gets_a_new_envelope_and_a_broken_one_loses_it(
        library: Library, library_path: Path, write_audio, tmp_path: Path) -> None:
    path = write_audio("a.wav", seconds=1.0, amp=0.5)
    root = str(tmp_path / "samples")
    scan(library, [root], None, options=INLINE)
    before = stored(library_path)[str(path)]
    write_audio("a.wav", seconds=1.0, amp=0.05)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    scan(library, [root], None, options=INLINE)
    after = stored(library_path)[str(path)]
    assert codes(after)[0].max() < codes(before)[0].min()
    path.write_bytes(b"RIFF0000WAVEjunk")
    scan(library, [root], None, options=INLINE)
    assert str(path) not in stored(library_path)


def test_older_library_gets_thumbnails_on_rescan_without_reembedding(
        library_path: Path, write_audio, tmp_path: Path, untrained_model) -> None:
    write_audio("a.wav", seconds=1.0)
    write_audio("sub/b.wav", seconds=3.0, freq=110, amp=0.2)
    root = str(tmp_path / "samples")
    with Library(library_path) as lib:
        scan(lib, [root], untrained_model, options=INLINE)
    fresh = stored(library_path)
    embedded = windows_blob(library_path)
    assert len(fresh) == 2 and all(e[2] is not None for e in embedded)
    # the library as the version before thumbnails left it
    as_before(library_path, schema._peaks, "DROP TABLE peaks")
    with Library(library_path) as lib:
        assert lib.schema_version == schema.SCHEMA_VERSION
        assert stored(library_path) == {}
        report = scan(lib, [root], untrained_model, options=INLINE)
    assert (report.decoded, report.embedded_windows, report.thumbnails_added) == (0, 0, 2)
    assert report.unchanged == 2
    assert stored(library_path) == fresh
    assert windows_blob(library_path) == embedded  # not embedded again
    with Library(library_path) as lib:
        assert all(k.has_peaks for k in lib.known_samples().values())
        again = scan(lib, [root], untrained_model, options=INLINE)
    assert again.thumbnails_added == 0 and again.decoded == 0


def test_scan_with_thumbnails_off_stores_none(library: Library, library_path: Path,
                                             write_audio, tmp_path: Path) -> None:
    write_audio("a.wav")
    scan(library, [str(tmp_path / "samples")], None, options=ScanOptions(jobs=0, peaks=False))
    assert stored(library_path) == {}


@pytest.mark.parametrize("jobs", [2])
def test_stored_through_the_process_pool(library: Library, library_path: Path, write_audio,
                                         tmp_path: Path, jobs: int) -> None:
    """Workers send their partial envelopes back with each segment (pickled)."""
    write_audio("a.wav", seconds=1.0)
    long = write_audio("long.wav", seconds=70.0, sr=16_000, amp=0.3)  # three 30 s segments
    scan(library, [str(tmp_path / "samples")], None, options=ScanOptions(jobs=jobs))
    got = stored(library_path)
    assert len(got) == 2
    peak = codes(got[str(long)])[0]
    assert np.ptp(peak) <= 2 and peak.min() > 200  # a steady tone, every segment included
