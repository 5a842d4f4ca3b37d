"""The ``sampletree`` command line, called in-process as scripts would call it, and once for
real as the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import models.loading
from app.cli import main
from core.schema import SCHEMA_VERSION
from tests.cli_run import run

LS_KEYS = {"path", "status", "error", "duration_s", "windows", "label", "confidence"}


@pytest.fixture
def no_bundled_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(models.loading, "bundled_weights_path",
                        lambda: tmp_path / "no-such-dir" / "sampletree.pt")


@pytest.fixture
def folder(write_audio, tmp_path: Path) -> Path:
    write_audio("kick.wav", seconds=0.5, seed=1)
    write_audio("loops/pad.flac", seconds=2.5, channels=2, seed=2)
    (tmp_path / "samples" / "broken.wav").write_text("not audio, just text\n" * 10)
    return tmp_path / "samples"


def ls_json(capsys: pytest.CaptureFixture[str], lib: Path) -> list[dict]:
    rc, out, err = run(capsys, "--library", lib, "ls", "--json")
    assert rc == 0, err
    return json.loads(out)


def test_scan_status_ls_with_untrained_weights(capsys, tmp_path: Path, folder: Path,
                                               weights: Path) -> None:
    lib = tmp_path / "lib.sqlite"
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0",
                       "--model", weights)
    assert rc == 0, err
    assert "UNTRAINED" in err and str(weights) in err
    assert "Scanned" in out and "3 audio files" in out and "1 unreadable" in out
    assert "broken.wav: not an audio file" in out
    assert "Traceback" not in err

    rc, out, err = run(capsys, "--library", lib, "status", "--json")
    assert rc == 0, err
    stats = json.loads(out)
    assert stats["files"] == 3 and stats["by_status"] == {"ok": 2, "error": 1}
    assert stats["schema_version"] == SCHEMA_VERSION
    assert stats["roots"] == [str(folder)]
    model_id = next(iter(stats["embedded_windows"]))
    assert model_id.startswith("testnet-1-")
    assert stats["embedded_windows"] == {model_id: stats["windows"]} and stats["windows"] >= 5
    assert stats["last_scan"]["state"] == "done"

    records = ls_json(capsys, lib)
    assert len(records) == 3
    by_name = {Path(r["path"]).name: r for r in records}
    for r in records:
        assert set(r) >= LS_KEYS
        assert r["label"] is None and r["confidence"] is None
    assert by_name["kick.wav"]["status"] == "ok" and by_name["kick.wav"]["windows"] == 1
    assert by_name["kick.wav"]["duration_s"] == pytest.approx(0.5)
    assert by_name["pad.flac"]["windows"] == 4 and by_name["pad.flac"]["embedded_by"] == model_id
    broken = by_name["broken.wav"]
    assert broken["status"] == "error" and "text" in broken["error"]
    assert broken["windows"] == 0 and broken["duration_s"] is None

    rc, out, _ = run(capsys, "--library", lib, "ls", "--json", "--status", "error")
    assert rc == 0 and [r["path"] for r in json.loads(out)] == [broken["path"]]

    # The text forms work too, and a second scan (JSON report) decodes nothing.
    rc, out, _ = run(capsys, "--library", lib, "status")
    assert rc == 0 and "Files: 3" in out and model_id in out
    rc, out, err = run(capsys, "--library", lib, "ls")
    assert rc == 0 and "broken.wav" in out and err.strip() == "3 files"
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0", "--model",
                       weights, "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert (report["unchanged"], report["decoded"], report["found"]) == (3, 0, 3)


def test_scan_without_a_bundled_model_indexes_but_does_not_embed(
        capsys, tmp_path: Path, folder: Path, no_bundled_model: None) -> None:
    lib = tmp_path / "lib.sqlite"
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0")
    assert rc == 0, err
    assert "warning: no trained model is bundled" in err
    assert "not embedded" in err
    assert "UNTRAINED" not in err
    assert "0 embedded" in out
    records = ls_json(capsys, lib)
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == 2
    assert all(r["windows"] >= 1 and r["embedded_by"] is None for r in ok)
    rc, out, _ = run(capsys, "--library", lib, "status", "--json")
    assert json.loads(out)["embedded_windows"] == {}


def test_scan_of_a_folder_whose_name_is_not_utf8(capsys, tmp_path: Path, write_audio,
                                                  no_bundled_model: None) -> None:
    root = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"samples \xff\xfe"))
    os.mkdir(root)
    # soundfile cannot write to such a name itself: write elsewhere, then move it in
    os.rename(write_audio("kick.wav", root=tmp_path / "staging"), os.path.join(root, "kick.wav"))
    lib = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"lib \xfd.sqlite"))
    rc, out, err = run(capsys, "--library", lib, "scan", root, "--jobs", "0")
    assert rc == 0, err
    assert "samples \\xff\\xfe" in out  # shown escaped, not a crash on printing
    rc, out, err = run(capsys, "--library", lib, "status")
    assert rc == 0, err
    assert "samples \\xff\\xfe" in out and "lib \\xfd.sqlite" in out
    rc, out, err = run(capsys, "--library", lib, "ls")
    assert rc == 0 and "samples \\xff\\xfe/kick.wav" in out, err
    records = ls_json(capsys, lib)
    assert [r["path"] for r in records] == [
        os.fsencode(root).decode("utf-8", "backslashreplace") + "/kick.wav"]


def _text_library(tmp_path: Path) -> Path:
    lib = tmp_path / "notes.sqlite"
    lib.write_text("shopping list\n" * 20)
    return lib


def _newer_library(tmp_path: Path) -> Path:
    lib = tmp_path / "newer.sqlite"
    with sqlite3.connect(str(lib)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.execute("CREATE TABLE samples (id INTEGER)")
    return lib


FAILURES = {
    # name: (argv builder, text the one error line must contain)
    "scan a missing folder": (
        lambda t, f, w: ["--library", t / "l.sqlite", "scan", t / "nope", "--jobs", "0"],
        "is not a folder"),
    "status of a missing library": (
        lambda t, f, w: ["--library", t / "missing.sqlite", "status"], "no library at"),
    "ls of a missing library": (
        lambda t, f, w: ["--library", t / "missing.sqlite", "ls", "--json"], "no library at"),
    "status of a text file": (
        lambda t, f, w: ["--library", _text_library(t), "status"], "not a Sampletree library"),
    "scan into a text file": (
        lambda t, f, w: ["--library", _text_library(t), "scan", f, "--jobs", "0", "--model", w],
        "not a Sampletree library"),
    "status of a newer library": (
        lambda t, f, w: ["--library", _newer_library(t), "status"], "newer Sampletree"),
    "a --model that does not exist": (
        lambda t, f, w: ["--library", t / "l.sqlite", "scan", f, "--jobs", "0", "--model",
                         t / "missing.pt"], "missing.pt not found"),
    "a library that is a folder": (
        lambda t, f, w: ["--library", t, "status"], "is a folder"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_failures_exit_1_with_one_error_line(case: str, capsys, tmp_path: Path,
                                             folder: Path, weights: Path) -> None:
    build, expected = FAILURES[case]
    argv = build(tmp_path, folder, weights)
    rc, out, err = run(capsys, *argv)
    assert rc == 1
    lines = err.splitlines()
    if case == "scan into a text file":
        # The model is loaded (and warned about) before the library is opened.
        lines = [ln for ln in lines if not ln.startswith("sampletree: warning: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("sampletree: error: ") and expected in lines[0], err
    assert err.splitlines()[-1] == lines[0]
    assert out == ""
    if "scan" in argv and "l.sqlite" in str(argv[1]):
        assert not (tmp_path / "l.sqlite").exists()  # nothing created on the way out


def _console_script() -> list[str]:
    """The installed ``sampletree`` of this interpreter's environment (or ``-m app``)."""
    beside = Path(sys.executable).with_name("sampletree")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("sampletree")
    return [found] if found else [sys.executable, "-m", "app"]


def test_the_console_script_starts(tmp_path: Path) -> None:
    cmd = _console_script()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLETREE_")}
    done = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert "usage: sampletree" in done.stdout
    for command in ("scan", "status", "ls"):
        assert command in done.stdout
    failed = subprocess.run([*cmd, "--library", str(tmp_path / "none.sqlite"), "status"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert failed.returncode == 1
    assert failed.stderr.splitlines() == [
        f"sampletree: error: no library at {tmp_path / 'none.sqlite'}; run a scan first"]


def test_scan_on_cuda_without_a_gpu_is_an_error_before_anything_is_written(
        capsys, tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    lib = tmp_path / "lib.sqlite"
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--device", "cuda")
    assert rc == 1 and out == ""
    assert err.splitlines() == [
        "sampletree: error: --device cuda was asked for, but no CUDA GPU is available"]
    assert not lib.exists()


def test_plain_progress_prints_each_step_once_and_nothing_for_an_empty_scan(capsys) -> None:
    from app.cli import _plain_progress
    from core.jobs import Progress

    with _plain_progress() as update:
        update(Progress("walk", 10, 0))
        update(Progress("decode", 0, 0, message="done"))  # a rescan with nothing to do
    assert capsys.readouterr().err == ""
    with _plain_progress() as update:
        update(Progress("decode", 1, 3, 2.0, 1.0))
        update(Progress("decode", 3, 3, 2.0, 0.0))
        update(Progress("decode", 3, 3, 2.0, 0.0, "done"))  # the scanner's final report
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["decode: 1/3 files, 2.0 files/s, ETA 1s",
                     "decode: 3/3 files, 2.0 files/s, ETA 0s"]


def test_commands_that_need_no_network_do_not_import_torch(tmp_path: Path, folder: Path,
                                                           weights: Path) -> None:
    """torch costs 1-2 s of start-up: status, ls, tree …, check and errors found before
    the network is needed never import it (numpy neither, for status)."""
    lib = tmp_path / "lib.sqlite"
    assert main(["--library", str(lib), "scan", str(folder), "--jobs", "0",
                 "--model", str(weights)]) == 0
    probe = (
        "import sys\n"
        "from app.cli import main\n"
        "lib = sys.argv[1]\n"
        "for argv in (['status'], ['tree', 'create', 't'], ['tree', 'list'], ['ls'],\n"
        "             ['tree', 'show', 't'], ['check'], ['backups'], ['scan', '/nonexistent'],\n"
        "             ['scan', sys.argv[2], '--hop', '0']):\n"
        "    try:\n"
        "        main(['--library', lib, *argv])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    if argv == ['status']:\n"
        "        print('numpy after status:', 'numpy' in sys.modules, file=sys.stderr)\n"
        "    print(argv[0], 'torch' in sys.modules, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", probe, str(lib), str(folder)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    verdicts = [line for line in done.stderr.splitlines()
                if line.endswith((" True", " False"))]
    assert len(verdicts) == 10, done.stderr
    assert all(v.endswith("False") for v in verdicts), done.stderr


def test_status_counts_windows_as_the_windows_table_holds_them(
        capsys, tmp_path: Path, folder: Path, weights: Path) -> None:
    lib = tmp_path / "lib.sqlite"
    assert main(["--library", str(lib), "scan", str(folder), "--jobs", "0",
                 "--model", str(weights)]) == 0
    capsys.readouterr()
    _rc, out, _err = run(capsys, "--library", lib, "status", "--json")
    stats = json.loads(out)
    with sqlite3.connect(lib) as conn:
        n = conn.execute("SELECT count(*) FROM windows").fetchone()[0]
        by_model = dict(conn.execute("SELECT m.model_id, count(*) FROM windows w JOIN models m "
                                     "ON w.model_id = m.id GROUP BY m.model_id").fetchall())
    assert stats["windows"] == n > 0 and stats["embedded_windows"] == by_model


def test_a_rescan_with_nothing_to_embed_does_not_import_torch(
        capsys, tmp_path: Path, folder: Path, weights: Path) -> None:
    trained = tmp_path / "w" / "net.pt"
    trained.parent.mkdir()
    shutil.copy(weights, trained)
    meta = json.loads(weights.with_suffix(".json").read_text())
    trained.with_suffix(".json").write_text(json.dumps({**meta, "trained": True}))
    lib = tmp_path / "lib.sqlite"
    assert main(["--library", str(lib), "scan", str(folder), "--jobs", "0",
                 "--model", str(trained)]) == 0
    probe = ("import sys\nfrom app.cli import main\n"
             "rc = main(['--library', sys.argv[1], 'scan', sys.argv[2], '--model', sys.argv[3]])\n"
             "print('torch imported:', 'torch' in sys.modules, rc)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", probe, str(lib), str(folder), str(trained)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "3 unchanged" in done.stdout and "torch imported: False 0" in done.stdout, done.stdout
    # a changed file is decoded and embedded: that scan loads the network
    kick = folder / "kick.wav"
    os.utime(kick, ns=(kick.stat().st_atime_ns, kick.stat().st_mtime_ns + 10**9))
    capsys.readouterr()
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0",
                       "--model", trained)
    assert rc == 0 and "1 changed" in out and "1 embedded" in out, out + err
    # a no-op rescan is written in the scan journal; a file gone is still found missing
    main(["--library", str(lib), "scan", str(folder), "--model", str(trained)])
    capsys.readouterr()
    rc, out, err = run(capsys, "--library", lib, "status", "--json")
    last = json.loads(out)["last_scan"]
    assert last["state"] == "done" and last["files_total"] == 0
    kick.unlink()
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0",
                       "--model", trained)
    assert rc == 0 and "1 missing" in out, out + err


def test_the_cli_finds_the_bundled_weights_where_models_does() -> None:
    from app.cli import _weights_path

    assert _weights_path(None) == models.loading.bundled_weights_path()
