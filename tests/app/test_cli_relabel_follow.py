"""The library follows the files its own relabels moved. A relabel that moves files out of
the scanned folders, then a rescan: nothing missing. The same after ``restore`` went back to
the backup made before that relabel: the journal of the library it set aside carries the
batch over, so the moved files are known at their new place with their labels and examples,
not "missing", and ``undo`` still puts them back (found by a fresh-eyes review)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_run import run


def listing(capsys, lib: Path) -> dict[str, dict]:
    rc, out, _ = run(capsys, "--library", lib, "ls", "--tree", "t", "--json")
    assert rc == 0
    return {r["path"]: r for r in json.loads(out)}


def test_relabel_rescan_restore_undo(capsys, write_audio, tmp_path: Path, weights: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPLETREE_MODEL", str(weights))  # the rescan after restore
    bass = [write_audio(f"bass/b{i}.wav", freq=55.0 * (1 + i / 8), seed=i) for i in range(3)]
    lead = [write_audio(f"lead/l{i}.wav", freq=2000.0 * (1 + i / 8), seed=i)
            for i in range(3)]
    root, sorted_dir, lib = bass[0].parents[1], tmp_path / "sorted", tmp_path / "lib.sqlite"
    assert run(capsys, "--library", lib, "scan", root, "--jobs", "0", "--quiet")[0] == 0
    for argv in (["tree", "create", "t"], ["tree", "add", "t", "Bass"],
                 ["tree", "add", "t", "Lead"], ["label", "t", "Bass", *bass[:2]],
                 ["label", "t", "Lead", *lead[:2]]):
        assert run(capsys, "--library", lib, *argv)[0] == 0
    before = listing(capsys, lib)
    rc, out, err = run(capsys, "--library", lib, "relabel", "t", "--mode", "move", "--dest",
                       sorted_dir, "--json")
    assert rc == 0, err
    batch = json.loads(out)["batch"]
    moved = {op["src"]: op["dst"] for op in json.loads(out)["operations"]}
    assert len(moved) >= 4 and all(Path(d).is_file() for d in moved.values())

    def check_followed() -> None:
        _rc, out, _ = run(capsys, "--library", lib, "status", "--json")
        assert json.loads(out)["by_status"] == {"ok": 6}, out
        now = listing(capsys, lib)
        for src, dst in moved.items():
            assert src not in now and now[dst]["label"] == before[src]["label"]
        _rc, out, _ = run(capsys, "--library", lib, "tree", "show", "t", "--json")
        assert {n["name"]: n["examples"] for n in json.loads(out)["nodes"]} == {"Bass": 2,
                                                                               "Lead": 2}

    assert run(capsys, "--library", lib, "scan", root, "--jobs", "0", "--quiet")[0] == 0
    check_followed()  # a rescan after a relabel: the library already followed

    rc, out, _ = run(capsys, "--library", lib, "backups", "--json")
    pre_relabel = next(b["path"] for b in json.loads(out) if b["reason"] == "relabel")
    rc, out, err = run(capsys, "--library", lib, "restore", "--from", pre_relabel)
    assert rc == 1 and "passes its check" in err  # a sound library: only with --force
    rc, out, err = run(capsys, "--library", lib, "restore", "--from", pre_relabel, "--force")
    assert rc == 0, err
    check_followed()  # was: every moved file "missing", the sorted copies unknown
    assert f"relabel batch since the backup kept: {batch} ({len(moved)} moved files" in out

    rc, out, err = run(capsys, "--library", lib, "undo", str(batch))
    assert rc == 0, err
    now = listing(capsys, lib)
    assert set(now) == set(before) and all(Path(p).is_file() for p in moved)
