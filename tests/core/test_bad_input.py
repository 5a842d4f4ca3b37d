"""Files and folders a sample library really holds, scanned for real: each bad file ends up
with a readable error on its sample (status 'error'), the odd-but-valid ones decode, and the
scan always goes on to the good file next to them."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.library import Library
from core.scanner import ScanOptions, scan

INLINE = ScanOptions(jobs=0)


def tone(seconds: float, sr: int) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)[:, None]


def samples(path: Path) -> dict[str, dict]:
    with sqlite3.connect(str(path)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM samples").fetchall()
    return {(r["path"] if isinstance(r["path"], str) else os.fsdecode(r["path"])): dict(r)
            for r in rows}


def wav_bytes(tmp_path: Path, seconds: float = 1.5) -> bytes:
    p = tmp_path / "template.wav"
    sf.write(str(p), tone(seconds, 44_100), 44_100, subtype="PCM_16")
    data = p.read_bytes()
    p.unlink()
    return data


def flac_bytes(tmp_path: Path) -> bytes:
    p = tmp_path / "template.flac"
    sf.write(str(p), tone(1.5, 44_100), 44_100)
    data = p.read_bytes()
    p.unlink()
    return data


# Each case writes one file into the folder and returns its path (str, may be non-UTF-8).
Maker = Callable[[Path, Path], str]


def _put(folder: Path, name: str | bytes, data: bytes) -> str:
    path = os.path.join(os.fsencode(folder), os.fsencode(name))
    with open(path, "wb") as fh:
        fh.write(data)
    return os.fsdecode(path)


def zero_bytes(folder: Path, tmp: Path) -> str:
    return _put(folder, "empty.wav", b"")


def truncated_header(folder: Path, tmp: Path) -> str:
    return _put(folder, "cut_header.wav", wav_bytes(tmp)[:30])


def header_only(folder: Path, tmp: Path) -> str:
    return _put(folder, "header_only.wav", wav_bytes(tmp)[:44])


def text_as_wav(folder: Path, tmp: Path) -> str:
    return _put(folder, "readme.wav", b"Kick drums from the 2019 session, do not share\n" * 30)


def flac_then_garbage(folder: Path, tmp: Path) -> str:
    data = flac_bytes(tmp)
    return _put(folder, "garbled.flac",
                data[:120] + np.random.default_rng(1).bytes(len(data) * 2))


def fake_flac_magic(folder: Path, tmp: Path) -> str:
    return _put(folder, "magic.flac", b"fLaC" + np.random.default_rng(2).bytes(8000))


def random_bytes_mp3(folder: Path, tmp: Path) -> str:
    return _put(folder, "noise.mp3", np.random.default_rng(3).bytes(3000))


def garbage_after_data(folder: Path, tmp: Path) -> str:
    return _put(folder, "tail.wav", wav_bytes(tmp) + b"GARBAGE\x00\xff" * 2000)


def data_cut_short(folder: Path, tmp: Path) -> str:
    data = wav_bytes(tmp, seconds=2.0)
    return _put(folder, "short_data.wav", data[: len(data) // 2])


def nan_samples(folder: Path, tmp: Path) -> str:
    x = tone(2.0, 44_100)
    x[::5000] = np.nan  # in every window, so none can be gated away
    x[2500::20000] = np.inf
    x[7500::20000] = -np.inf
    path = folder / "nan.wav"
    sf.write(str(path), x, 44_100, subtype="FLOAT")
    return str(path)


def non_utf8_name(folder: Path, tmp: Path) -> str:
    return _put(folder, b"caf\xe9 \xff\xfe kick.wav", wav_bytes(tmp))


def long_name(folder: Path, tmp: Path) -> str:
    name = "snare " + "x" * 240 + ".wav"
    assert len(name.encode()) == 250
    return _put(folder, name, wav_bytes(tmp))


def long_multibyte_name(folder: Path, tmp: Path) -> str:
    name = "\u00e9" * 123 + ".wav"  # 250 bytes of UTF-8, 127 characters
    return _put(folder, name, wav_bytes(tmp))


# (maker, expected status, pattern the error must match, expected duration or None)
CASES: dict[str, tuple[Maker, str, str | None, float | None]] = {
    "zero-byte file": (zero_bytes, "error", r"^empty file \(0 bytes\)$", None),
    "truncated header": (truncated_header, "error", r"^damaged WAV file", None),
    "header without data": (header_only, "error", r"holds no audio", None),
    "text named .wav": (text_as_wav, "error", r"^not an audio file: the content is text$", None),
    "FLAC header then garbage": (flac_then_garbage, "error",
                                 r"^damaged or unsupported audio file", None),
    "FLAC magic then garbage": (fake_flac_magic, "error",
                                r"^damaged or unsupported audio file", None),
    "random bytes named .mp3": (random_bytes_mp3, "error", r"not a recognised audio format",
                                None),
    "garbage after the data chunk": (garbage_after_data, "ok", None, 1.5),
    # it reads (what is there), and the scan says it is cut short
    "data shorter than the header says": (data_cut_short, "ok", r"^truncated: its header "
                                          r"promises \d+\.\d\d s, the file holds", None),
    # it reads (NaN as silence, infinity as full scale), and the scan says so
    "NaN and inf samples": (nan_samples, "ok", r"^[\d,]+ samples \(mixed to mono\) are NaN "
                            r"or infinite \(damaged float data\)", 2.0),
    "non-UTF-8 file name": (non_utf8_name, "ok", None, 1.5),
    "250-byte file name": (long_name, "ok", None, 1.5),
    "250-byte UTF-8 file name": (long_multibyte_name, "ok", None, 1.5),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_is_recorded_and_the_scan_goes_on(
        case: str, tmp_path: Path, library: Library, library_path: Path,
        write_audio, untrained_model) -> None:
    maker, status, pattern, duration = CASES[case]
    folder = tmp_path / "samples"
    folder.mkdir()
    bad = maker(folder, tmp_path)
    good = write_audio("zz_good.wav", seconds=1.0)  # sorted last: decoded after the bad one

    report = scan(library, [str(folder)], untrained_model, options=INLINE)

    assert report.found == 2 and not report.cancelled
    rows = samples(library_path)
    assert rows[str(good)]["status"] == "ok" and rows[str(good)]["n_windows"] >= 1
    row = rows[bad]
    assert row["status"] == status, row["error"]
    if status == "error":
        assert row["error"] and re.search(pattern, row["error"]), row["error"]
        assert "unexpected" not in row["error"]
        assert row["n_windows"] == 0 and row["duration_s"] is None
        assert (bad, row["error"]) in report.problems
        assert (report.failed, report.decoded) == (1, 1)
    else:
        if pattern is None:
            assert row["error"] is None and not report.problems
        else:  # a note on a file that reads
            assert row["error"] and re.search(pattern, row["error"]), row["error"]
            assert report.problems == [(bad, row["error"])]
        assert row["n_windows"] >= 1 and report.decoded == 2
        if duration is not None:
            assert row["duration_s"] == pytest.approx(duration, abs=1e-3)
            assert row["n_windows"] == round(duration * 2) - 1  # 1 s windows at 0.5 s hop
        with sqlite3.connect(str(library_path)) as conn:
            blobs = [r[0] for r in conn.execute(
                "SELECT embedding FROM windows WHERE sample_id = ?", (row["id"],))]
        emb = np.stack([np.frombuffer(b, np.float16) for b in blobs])
        assert np.isfinite(emb).all()
    # Nothing to retry while the file stays as it is.
    again = scan(library, [str(folder)], untrained_model, options=INLINE)
    assert (again.unchanged, again.decoded, again.failed) == (2, 0, 0)


def test_data_shorter_than_its_header_reports_what_is_there(
        tmp_path: Path, library: Library, library_path: Path) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    bad = data_cut_short(folder, tmp_path)
    scan(library, [str(folder)], None, options=INLINE)
    row = samples(library_path)[bad]
    assert row["status"] == "ok"
    assert row["duration_s"] == pytest.approx(1.0, abs=0.01)  # half of the 2 s promised


def test_symlink_loops_end_the_walk_and_are_reported(
        tmp_path: Path, library: Library, library_path: Path, write_audio) -> None:
    folder = tmp_path / "samples"
    good = write_audio("kit/kick.wav")
    os.symlink("..", folder / "kit" / "up")  # kit/up/kit/up/… forever
    os.symlink("self.wav", folder / "self.wav")  # a link to itself
    report = scan(library, [str(folder)], None, options=INLINE)
    problems = dict(report.problems)
    assert "symbolic link loop" in problems[str(folder / "kit" / "up")]
    assert "symbolic links" in problems[str(folder / "self.wav")].lower()
    assert report.found == 1 and report.decoded == 1
    rows = samples(library_path)
    assert set(rows) == {str(good), str(folder / "self.wav")}
    # the looping file is on record (`ls --status error` shows it), the folder loop is not
    assert rows[str(folder / "self.wav")]["status"] == "error"
    assert "symbolic link loop" in rows[str(folder / "self.wav")]["error"]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_everything_at_once_through_the_process_pool(
        tmp_path: Path, library: Library, library_path: Path, write_audio,
        untrained_model) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    made = {case: maker(folder, tmp_path) for case, (maker, *_rest) in CASES.items()}
    good = write_audio("zz_good.wav")
    report = scan(library, [str(folder)], untrained_model, options=ScanOptions(jobs=2))
    rows = samples(library_path)
    assert rows[str(good)]["status"] == "ok"
    for case, path in made.items():
        _maker, status, pattern, _duration = CASES[case]
        assert rows[path]["status"] == status, (case, rows[path]["error"])
        if pattern:
            assert re.search(pattern, rows[path]["error"]), (case, rows[path]["error"])
    n_bad = sum(1 for _m, s, *_r in CASES.values() if s == "error")
    assert (report.failed, report.decoded) == (n_bad, len(CASES) + 1 - n_bad)
