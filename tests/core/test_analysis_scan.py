"""The analysis in the scan: stored per file by the decode workers, filled for an older
library by the next scan without decoding its windows again, kept in step with changes;
the library's filters (SQL for ``ls``, numpy for the table) and the relabel layout fields."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine

from core import schema
from core.analysis import ANALYSIS_VERSION
from core.analysis.query import AnalysisFilter, parse_keys
from core.browse import Filter, load_rows, select_rows
from core.library import Library
from core.relabel.layout import parse_layout
from core.relabel.plan import analysis_fields
from core.scanner import ScanOptions, scan
from tests.analysis_signals import drum_loop, one_shot, progression, write

C, F, G = [60, 64, 67], [65, 69, 72], [67, 71, 74]


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    root = tmp_path / "pack"
    root.mkdir()
    write(root / "beat.wav", drum_loop(124.0, 2))
    write(root / "keys.wav", progression([C, F, G, C], bpm=120))
    write(root / "bass.wav", one_shot(45))
    write(root / "Perc_Loop_95bpm.wav", drum_loop(95.0, 1))
    return root


def _analysis(lib_path: Path) -> dict[str, tuple]:
    con = sqlite3.connect(str(lib_path))
    try:
        return {Path(p).name: tuple(row) for p, *row in con.execute(
            "SELECT s.path, a.kind, a.bpm, a.bpm_source, a.key, a.root_midi, a.lufs, a.version "
            "FROM samples s JOIN analysis a ON a.sample_id = s.id")}
    finally:
        con.close()


@pytest.mark.parametrize("jobs", [0, 1])
def test_a_scan_stores_each_files_analysis(tmp_path: Path, pack: Path, jobs: int) -> None:
    lib_path = tmp_path / "lib.sqlite"
    with Library(lib_path) as lib:
        report = scan(lib, [str(pack)], None, options=ScanOptions(jobs=jobs))
    assert report.decoded == 4 and report.analysed == 0
    got = _analysis(lib_path)
    assert got["beat.wav"][:3] == ("loop", pytest.approx(124.0, rel=0.02), "audio")
    assert got["keys.wav"][0] == "loop" and got["keys.wav"][3] == "C"
    assert got["bass.wav"][0] == "oneshot" and got["bass.wav"][4] == 45
    assert got["Perc_Loop_95bpm.wav"][1:3] == (95.0, "name")
    assert all(row[5] is not None and row[5] < 0 for row in got.values())  # LUFS measured
    assert {row[6] for row in got.values()} == {ANALYSIS_VERSION}


def _old_library(path: Path, source: Path) -> None:
    """A library as a Sampletree without analysis wrote it: the schema before the analysis
    migration, holding ``source``'s samples and windows."""
    before = schema.MIGRATIONS.index(schema._analysis)
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        for step in schema.MIGRATIONS[:before]:
            step(conn)
        schema.set_version(conn, before)
    engine.dispose()
    con = sqlite3.connect(str(path))
    con.execute("ATTACH DATABASE ? AS src", (str(source),))
    for table in ("roots", "samples", "windows"):
        cols = ", ".join(r[1] for r in con.execute(f"PRAGMA table_info({table})"))
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM src.{table}")
    con.commit()
    con.close()


def test_an_older_library_gets_its_analysis_without_decoding_windows_again(
        tmp_path: Path, pack: Path) -> None:
    fresh = tmp_path / "fresh.sqlite"
    with Library(fresh) as lib:
        scan(lib, [str(pack)], None, options=ScanOptions(jobs=0))
    old = tmp_path / "old.sqlite"
    _old_library(old, fresh)
    con = sqlite3.connect(str(old))
    windows_before = con.execute("SELECT * FROM windows ORDER BY sample_id, idx").fetchall()
    scanned_before = con.execute("SELECT id, scanned_at FROM samples ORDER BY id").fetchall()
    assert "analysis" not in {r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    with Library(old) as lib:  # the migration adds the table
        assert lib.schema_version == schema.SCHEMA_VERSION
        assert len(lib.analysis_missing()) == 4
        report = scan(lib, [str(pack)], None, options=ScanOptions(jobs=0))
        assert lib.analysis_missing() == {}
    assert report.unchanged == 4 and report.decoded == 0 and report.analysed == 4
    assert _analysis(old) == _analysis(fresh)  # the same values as a first scan's
    con = sqlite3.connect(str(old))
    assert con.execute("SELECT * FROM windows ORDER BY sample_id, idx").fetchall() \
        == windows_before
    assert con.execute("SELECT id, scanned_at FROM samples ORDER BY id").fetchall() \
        == scanned_before  # no file was rewritten
    con.close()
    with Library(old) as lib:  # and the next scan has nothing left to do
        again = scan(lib, [str(pack)], None, options=ScanOptions(jobs=0))
    assert again.analysed == 0 and again.decoded == 0


def test_an_older_analysis_version_is_redone(tmp_path: Path, pack: Path) -> None:
    lib_path = tmp_path / "lib.sqlite"
    with Library(lib_path) as lib:
        scan(lib, [str(pack)], None, options=ScanOptions(jobs=0))
    con = sqlite3.connect(str(lib_path))
    con.execute("UPDATE analysis SET version = version - 1, bpm = 1.0")
    con.commit()
    con.close()
    with Library(lib_path) as lib:
        report = scan(lib, [str(pack)], None, options=ScanOptions(jobs=0))
    assert report.analysed == 4 and report.decoded == 0
    assert _analysis(lib_path)["beat.wav"][1] == pytest.approx(124.0, rel=0.02)


def test_a_changed_or_broken_file_gets_a_new_analysis_or_none(tmp_path: Path,
                                                              pack: Path) -> None:
    lib_path = tmp_path / "lib.sqlite"
    with Library(lib_path) as lib:
        scan(lib, [str(pack)], None, options=ScanOptions(jobs=0))
        write(pack / "bass.wav", one_shot(52))
        (pack / "keys.wav").write_bytes(b"RIFF????WAVEjunk" * 10)
        report = scan(lib, [str(pack)], None, options=ScanOptions(jobs=0))
    assert report.changed == 2
    got = _analysis(lib_path)
    assert got["bass.wav"][4] == 52 and "keys.wav" not in got


def test_library_filters_in_sql_and_in_the_table_agree(tmp_path: Path, pack: Path) -> None:
    lib_path = tmp_path / "lib.sqlite"
    with Library(lib_path) as lib:
        scan(lib, [str(pack)], None, options=ScanOptions(jobs=0))
        cases = [AnalysisFilter(bpm=(120.0, 128.0)), AnalysisFilter(kind="oneshot"),
                 AnalysisFilter(keys=parse_keys("C")), AnalysisFilter(keys=parse_keys("Am")),
                 AnalysisFilter(keys=parse_keys("Am", compatible=True)),
                 AnalysisFilter(lufs=(-200.0, 0.0)), AnalysisFilter(kind="loop", bpm=(90, 100))]
        rows = load_rows(lib)
        for flt in cases:
            sql = {Path(r["path"]).name for r in lib.list_samples(analysis=flt)}
            table = {rows.name[i] for i in select_rows(rows, Filter(analysis=flt))}
            assert sql == table, flt
        assert {Path(r["path"]).name for r in lib.list_samples(
            analysis=AnalysisFilter(bpm=(120.0, 128.0)))} == {"beat.wav", "keys.wav"}
        assert {Path(r["path"]).name for r in lib.list_samples(
            analysis=AnalysisFilter(keys=parse_keys("Am")))} == {"bass.wav"}  # an A root
        assert {Path(r["path"]).name for r in lib.list_samples(
            analysis=AnalysisFilter(keys=parse_keys("Am", compatible=True)))} \
            == {"bass.wav", "keys.wav"}  # C is A minor's relative
        by_bpm = [rows.name[i] for i in select_rows(rows, Filter(), "bpm")]
        assert by_bpm[0] == "Perc_Loop_95bpm.wav"
        assert set(by_bpm[1:3]) == {"beat.wav", "keys.wav"}
        assert by_bpm[3] == "bass.wav"  # a one-shot has no tempo: last, both ways
        assert [rows.name[i] for i in select_rows(rows, Filter(), "bpm", True)][3] \
            == "bass.wav"


def test_filtering_100k_rows_by_tempo_and_key_takes_milliseconds() -> None:
    import time
    from dataclasses import replace

    from core.browse import empty_rows

    n = 100_000
    rng = np.random.default_rng(0)
    base = empty_rows()
    names = np.empty(n, dtype=object)
    names[:] = [f"f{i}.wav" for i in range(n)]
    keys = np.empty(n, dtype=object)
    keys[:] = rng.choice(["Am", "C", "F#m", "", "Eb"], n).tolist()
    rows = replace(base, ids=np.arange(n), path=names, name=names, folder=names,
                   format=names, status=names, error=names, duration=rng.random(n),
                   label=names, leaf=names, confidence=rng.random(n),
                   backed_off=np.zeros(n, bool), support=np.zeros(n, bool),
                   bpm=rng.uniform(60, 180, n), bpm_alt=rng.uniform(60, 180, n), key=keys,
                   root=np.full(n, -1), type=keys, lufs=rng.uniform(-30, -5, n))
    flt = Filter(analysis=AnalysisFilter(bpm=(120, 128), keys=parse_keys("Am", True)))
    select_rows(rows, flt)  # ranks built once per snapshot (the session does it on load)
    # CPU time, best of 3: wall time on a loaded 2-core machine says little
    spent = []
    for _ in range(3):
        t0 = time.process_time()
        got = select_rows(rows, flt)
        spent.append(time.process_time() - t0)
    assert min(spent) < 0.1 and 0 < len(got) < n


def test_layout_fields_for_tempo_key_and_type() -> None:
    layout = parse_layout("{type}/{bpm}/{key}/{name}")
    values = {"name": "x", **analysis_fields("loop", 124.0, "Am", None)}
    assert layout.render(values, ".wav") == ["loop", "124", "Am", "x.wav"]
    values = {"name": "x", **analysis_fields("oneshot", None, None, 42)}
    assert layout.render(values, ".wav") == ["one-shot", "F#2", "x.wav"]
    values = {"name": "x", **analysis_fields(None, 87.5, None, None)}
    assert layout.render(values, ".wav") == ["87.5", "x.wav"]  # unknowns drop their folder


def test_an_older_library_lacking_analysis_fingerprints_and_thumbnails_reads_each_file_once(
        tmp_path: Path, pack: Path, monkeypatch) -> None:
    """The three things a library made before them lacks come from one read of each file."""
    import core.scanner as scanner

    lib_path = tmp_path / "lib.sqlite"
    with Library(lib_path) as lib:
        scan(lib, [str(pack)], None, options=ScanOptions(jobs=0))
    con = sqlite3.connect(str(lib_path))
    for table in ("analysis", "dup_signatures", "peaks"):
        con.execute(f"DELETE FROM {table}")
    con.commit()
    con.close()
    reads: list[int] = []
    decode = scanner._decode_task

    def counting(key, seg, *args, **kwargs):
        reads.append(seg)
        return decode(key, seg, *args, **kwargs)

    monkeypatch.setattr(scanner, "_decode_task", counting)
    monkeypatch.setattr(scanner, "_analyse_task", lambda *a: pytest.fail("a second read"))
    with Library(lib_path) as lib:
        report = scan(lib, [str(pack)], None, options=ScanOptions(jobs=0))
        assert lib.analysis_missing() == {}
    assert (report.analysed, report.fingerprinted, report.thumbnails_added) == (4, 4, 4)
    assert report.decoded == 0 and reads.count(0) == 4
    con = sqlite3.connect(str(lib_path))
    assert [con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("analysis", "dup_signatures", "peaks")] == [4, 4, 4]
    con.close()


def test_a_renamed_file_reads_its_new_name_again_without_reembedding(
        tmp_path: Path, untrained_model) -> None:
    # the root note came from the old name; the new name states none: the next scan
    # takes it from the audio (A2), and a name that states a tempo is read too
    root = tmp_path / "pack"
    root.mkdir()
    write(root / "Bass_F#2.wav", one_shot(45))
    write(root / "beat.wav", drum_loop(124.0, 2))
    lib_path = tmp_path / "lib.sqlite"
    with Library(lib_path) as lib:
        scan(lib, [str(root)], untrained_model, options=ScanOptions(jobs=0))
    con = sqlite3.connect(str(lib_path))
    row = con.execute("SELECT a.root_midi, a.root_source FROM analysis a JOIN samples s "
                      "ON s.id = a.sample_id WHERE s.path LIKE '%Bass_F#2.wav'").fetchone()
    assert row == (42, "name")
    windows_before = con.execute("SELECT * FROM windows ORDER BY sample_id, idx").fetchall()
    con.close()
    (root / "Bass_F#2.wav").rename(root / "Bass.wav")
    (root / "beat.wav").rename(root / "Beat_Loop_120bpm.wav")
    with Library(lib_path) as lib:
        report = scan(lib, [str(root)], untrained_model, options=ScanOptions(jobs=0))
    assert report.moved == 2 and report.decoded == 0 and report.analysed == 2
    con = sqlite3.connect(str(lib_path))
    got = {Path(p).name: r for p, *r in con.execute(
        "SELECT s.path, a.root_midi, a.root_source, a.bpm, a.bpm_source, a.version "
        "FROM samples s JOIN analysis a ON a.sample_id = s.id")}
    assert tuple(got["Bass.wav"][:2]) == (45, "audio")
    assert tuple(got["Beat_Loop_120bpm.wav"][2:4]) == (120.0, "name")
    assert {r[4] for r in got.values()} == {ANALYSIS_VERSION}
    assert con.execute("SELECT * FROM windows ORDER BY sample_id, idx").fetchall() \
        == windows_before  # not embedded again
    con.close()
    with Library(lib_path) as lib:  # and nothing is left to do
        again = scan(lib, [str(root)], untrained_model, options=ScanOptions(jobs=0))
    assert again.analysed == 0 and again.decoded == 0
