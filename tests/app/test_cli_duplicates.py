"""``sampletree duplicates``: listing, JSON, the quarantine preview, apply and undo."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from tests.cli_run import run


@pytest.fixture
def scanned(tmp_path: Path, capsys, weights: Path) -> tuple[Path, Path]:
    root = tmp_path / "samples"
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((22_050, 1)) * 3000).astype(np.int16)
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    sf.write(str(root / "a" / "hit.flac"), x, 44_100, subtype="PCM_24")
    sf.write(str(root / "b" / "hit copy.wav"), x, 44_100, subtype="PCM_16")
    sf.write(str(root / "b" / "hit.mp3"), x.astype(np.float32) / 32768, 44_100, format="MP3")
    sf.write(str(root / "b" / "other.wav"), (x[::-1] // 2), 44_100, subtype="PCM_16")
    lib = tmp_path / "lib.sqlite"
    rc, _out, err = run(capsys, "--library", lib, "scan", root, "--jobs", "0",
                        "--model", weights, "--quiet")
    assert rc == 0, err
    return lib, root


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_duplicates_text_and_json(capsys, scanned: tuple[Path, Path]) -> None:
    lib, _root = scanned
    rc, out, err = run(capsys, "--library", lib, "duplicates")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("group ") and "(exact, 2 files): keep" in lines[0]
    # 24-bit FLAC holds the same samples as the 16-bit WAV: the same audio, and the
    # keeper is the shorter path (both lossless, same rate; bit depth of the container
    # does not make the same samples better)
    assert "a/hit.flac" in lines[0] or "b/hit copy.wav" in lines[0]
    assert "1 group of exact duplicates, 1 extra copy" in err
    rc, out, _err = run(capsys, "--library", lib, "duplicates", "--json")
    data = json.loads(out)
    assert data["groups"] == 1 and data["extra_copies"] == 1 and data["near"] is False
    group = data["duplicates"][0]
    assert {Path(f["path"]).name for f in group["files"]} == {"hit.flac", "hit copy.wav"}
    assert sum(f["keep"] for f in group["files"]) == 1
    assert group["keeper"] == next(f["path"] for f in group["files"] if f["keep"])
    assert group["reason"]


def test_ls_json_names_the_duplicate_group(capsys, scanned: tuple[Path, Path]) -> None:
    lib, _root = scanned
    rc, out, _err = run(capsys, "--library", lib, "ls", "--json")
    rows = {Path(r["path"]).name: r for r in json.loads(out)}
    assert rc == 0
    assert rows["hit.flac"]["duplicate_group"] is not None
    assert rows["hit.flac"]["duplicate_group"] == rows["hit copy.wav"]["duplicate_group"]
    assert rows["other.wav"]["duplicate_group"] is None
    _rc, out, _err = run(capsys, "--library", lib, "duplicates", "--json")
    assert json.loads(out)["duplicates"][0]["id"] == rows["hit.flac"]["duplicate_group"]


def test_quarantine_preview_apply_and_undo(capsys, scanned: tuple[Path, Path],
                                           tmp_path: Path) -> None:
    lib, root = scanned
    before = digests(root)
    dest = tmp_path / "quarantine"
    rc, out, err = run(capsys, "--library", lib, "duplicates", "--quarantine", dest)
    assert rc == 0, err
    assert "preview: 1 copy would move; nothing changed" in out
    assert digests(root) == before and not dest.exists()
    rc, out, err = run(capsys, "--library", lib, "batches", "--json")
    assert json.loads(out) == []  # a preview stores no batch

    rc, out, err = run(capsys, "--library", lib, "duplicates", "--quarantine", dest,
                       "--apply", "--json")
    assert rc == 0, err
    q = json.loads(out)["quarantine"]
    assert q["applied"] and q["report"]["done"] == 1
    batch = q["batch"]
    assert len(digests(root)) == len(before) - 1
    moved = list(dest.rglob("*.*"))
    assert len(moved) == 1 and moved[0].parent.parent.name == "samples"
    rc, out, err = run(capsys, "--library", lib, "duplicates")
    assert "0 groups" in err  # the extra copy is out of the scanned folders
    rc, out, err = run(capsys, "--library", lib, "undo", str(batch))
    assert rc == 0, err
    assert digests(root) == before
    rc, out, err = run(capsys, "--library", lib, "duplicates")
    assert "1 group of" in err


def test_duplicates_bad_input_is_one_line(capsys, scanned: tuple[Path, Path]) -> None:
    lib, root = scanned
    rc, _out, err = run(capsys, "--library", lib, "duplicates", "--quarantine", root / "q",
                        "--apply")
    assert rc == 1 and err.count("sampletree: error:") == 1 and "inside" in err
    assert "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["--library", str(lib), "duplicates", "--apply"])
    assert exc.value.code == 2
    assert "--quarantine" in capsys.readouterr().err


def test_rescan_of_an_older_library_fingerprints_without_embedding(
        capsys, scanned: tuple[Path, Path], weights: Path) -> None:
    import sqlite3

    lib, root = scanned
    with sqlite3.connect(lib) as conn:  # as a library scanned before duplicates existed
        conn.execute("DELETE FROM dup_signatures")
    rc, _out, err = run(capsys, "--library", lib, "duplicates")
    assert "0 groups" in err and "rescan their folders" in err
    rc, out, err = run(capsys, "--library", lib, "scan", root, "--jobs", "0",
                       "--model", weights)
    assert rc == 0, err
    assert "read 4 unchanged files again for their duplicate fingerprints" in out
    assert "decoded 0 files" in out and "0 embedded" in out
    rc, _out, err = run(capsys, "--library", lib, "duplicates")
    assert "1 group of" in err and "rescan" not in err


@pytest.mark.timeout(600)
def test_quarantine_leaves_copies_in_read_only_folders_alone_with_a_reason(
        capsys, tmp_path: Path, weights: Path) -> None:
    from tests.app.unprivileged import run_unprivileged

    root = tmp_path / "samples"
    x = (np.random.default_rng(1).standard_normal((22_050, 1)) * 3000).astype(np.int16)
    for d in ("a", "b", "c"):
        (root / d).mkdir(parents=True)
        sf.write(str(root / d / "hit.wav"), x, 44_100, subtype="PCM_16")
    lib = tmp_path / "lib.sqlite"
    rc, _out, err = run(capsys, "--library", lib, "scan", root, "--jobs", "0",
                        "--model", weights, "--quiet")
    assert rc == 0, err
    rc, out, _err = run(capsys, "--library", lib, "duplicates", "--json")
    files = json.loads(out)["duplicates"][0]["files"]
    extras = sorted(Path(f["path"]) for f in files if not f["keep"])
    assert len(extras) == 2
    ro, unreadable = extras
    dest = tmp_path / "quarantine"
    before = digests(root)
    ro.parent.chmod(0o555)
    unreadable.chmod(0)
    try:
        rc, out, err = run_unprivileged("--library", lib, "duplicates", "--quarantine", dest)
        assert rc == 0, err
        assert "move " not in out  # neither copy can move
        assert ("left alone: 1 copy cannot be read, 1 copy its folder is not writable"
                in out), out
        assert "2 extra copies" in err
        rc, out, err = run_unprivileged("--library", lib, "duplicates", "--quarantine", dest,
                                        "--apply", "--json")
        assert rc == 0, err
        q = json.loads(out)["quarantine"]
        assert q["moves"] == [] and q["batch"] is None  # no failed batch left behind
        assert q["skipped"] == {"not_writable": 1, "unreadable": 1}  # keys, not sentences
    finally:
        ro.parent.chmod(0o755)
        unreadable.chmod(0o644)
    assert digests(root) == before
    rc, out, _err = run(capsys, "--library", lib, "batches", "--json")
    assert json.loads(out) == []


def test_the_copy_named_as_a_copy_is_not_kept(capsys, tmp_path: Path, weights: Path) -> None:
    """A fresh-eyes review: `cp "Snare Standard v106.wav" "Dupes/Snare exact copy.wav"`
    kept the copy (its path is shorter) and would have quarantined the original."""
    root = tmp_path / "lib"
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((11_025, 1)) * 3000).astype(np.int16)
    (root / "Drums" / "Snares").mkdir(parents=True)
    (root / "Dupes").mkdir()
    original = root / "Drums" / "Snares" / "Snare Standard v106.wav"
    sf.write(str(original), x, 44_100, subtype="PCM_16")
    (root / "Dupes" / "Snare exact copy.wav").write_bytes(original.read_bytes())
    lib = tmp_path / "lib.sqlite"
    assert run(capsys, "--library", lib, "scan", root, "--jobs", "0", "--model", weights,
               "--quiet")[0] == 0
    rc, out, err = run(capsys, "--library", lib, "duplicates")
    assert rc == 0, err
    first = out.splitlines()[0]
    assert f"keep {original} — " in first, out
    assert "not named as a copy" in out and "shortest path" not in out
    group = json.loads(run(capsys, "--library", lib, "duplicates", "--json")[1])["duplicates"][0]
    assert group["keeper"] == str(original)
