"""The labeling commands end to end on a real scanned folder: tree, label, classify,
explain, similar, suggest, unlabel, and ls with labels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli_run import run


@pytest.fixture
def scanned(write_audio, tmp_path: Path, weights: Path, capsys) -> tuple[Path, Path]:
    """Low sines ("bass"), high sines ("lead") and noise-like "hats", scanned."""
    for i in range(4):
        write_audio(f"bass/b{i}.wav", seconds=1.0, freq=55.0 * (1 + i / 8), seed=i)
        write_audio(f"lead/l{i}.flac", seconds=1.0, freq=2000.0 * (1 + i / 8), seed=i)
        write_audio(f"hats/h{i}.wav", seconds=0.3, freq=7000.0 + 50 * i, amp=0.05, seed=i)
    lib = tmp_path / "lib.sqlite"
    folder = tmp_path / "samples"
    rc, _out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0",
                        "--model", weights)
    assert rc == 0, err
    return lib, folder


def test_teach_classify_and_query(scanned, capsys) -> None:
    lib, folder = scanned
    assert run(capsys, "--library", lib, "tree", "create", "mine", "--from", "producer")[0] == 0
    rc, out, _ = run(capsys, "--library", lib, "tree", "list")
    assert out.split() == ["mine"]
    assert run(capsys, "--library", lib, "tree", "add", "mine", "Synth/Sine Lead")[0] == 0
    for node, files in (("Bass", ["bass/b0.wav", "bass/b1.wav"]),
                        ("Synth/Sine Lead", ["lead/l0.flac", "lead/l1.flac"]),
                        ("Drums/Hi-hat", ["hats/h0.wav", "hats/h1.wav"])):
        rc, out, err = run(capsys, "--library", lib, "label", "mine", node,
                           *[folder / f for f in files])
        assert rc == 0, err
        assert "2 examples" in out and "labels updated" in err

    rc, out, err = run(capsys, "--library", lib, "classify", "mine", "--json")
    assert rc == 0, err
    rows = {Path(r["path"]).relative_to(folder).as_posix(): r for r in json.loads(out)}
    assert len(rows) == 12
    assert set(rows["bass/b3.wav"]) >= {"path", "node", "leaf", "confidence", "backed_off",
                                        "unknown"}
    assert rows["bass/b0.wav"]["support"] and rows["bass/b0.wav"]["node"] == "Bass"
    assert rows["lead/l0.flac"]["node"] == "Synth/Sine Lead"
    assert rows["lead/l0.flac"]["confidence"] == 1

    rc, out, _ = run(capsys, "--library", lib, "ls", "--json")
    ls = {Path(r["path"]).name: r for r in json.loads(out)}
    assert ls["b0.wav"]["label"] == "Bass" and ls["b0.wav"]["confidence"] == 1.0

    rc, out, _ = run(capsys, "--library", lib, "similar", folder / "bass/b2.wav", "-k", "3",
                     "--json")
    hits = json.loads(out)
    assert rc == 0 and len(hits) == 3
    assert str(folder / "bass/b2.wav") not in [h["path"] for h in hits]
    assert [h["distance"] for h in hits] == sorted(h["distance"] for h in hits)

    rc, out, _ = run(capsys, "--library", lib, "suggest", "mine", "-n", "4", "--json")
    sugg = json.loads(out)
    assert rc == 0 and len(sugg) == 4
    supports = {str(folder / f) for f in ("bass/b0.wav", "bass/b1.wav", "lead/l0.flac",
                                          "lead/l1.flac", "hats/h0.wav", "hats/h1.wav")}
    assert not supports & {s["path"] for s in sugg}
    # each with the class the file most likely is (the app's "Kick? 39 %")
    assert all((isinstance(s["best_class"], str) and "/" in s["best_class"]) or
               s["best_class"] in ("Bass", "Pads") for s in sugg), sugg
    rc, out, _ = run(capsys, "--library", lib, "suggest", "mine", "-n", "2")
    assert rc == 0 and out.startswith("best class?") and "? " in out.splitlines()[1]

    rc, out, _ = run(capsys, "--library", lib, "explain", "mine", folder / "lead/l3.flac",
                     "--json")
    exp = json.loads(out)
    assert rc == 0 and exp["path"] and len(exp["nearest_supports"]) == 5

    rc, out, _ = run(capsys, "--library", lib, "tree", "show", "mine", "--json")
    shown = json.loads(out)
    bass = next(n for n in shown["nodes"] if n["name"] == "Bass")
    assert bass["examples"] == 2

    rc, out, err = run(capsys, "--library", lib, "unlabel", "mine", folder / "bass/b1.wav")
    assert rc == 0 and "removed 1 example" in out


def test_export_import_round_trip(scanned, capsys, tmp_path: Path) -> None:
    lib, _folder = scanned
    run(capsys, "--library", lib, "tree", "create", "t", "--from", "instruments")
    out_file = tmp_path / "t.json"
    assert run(capsys, "--library", lib, "tree", "export", "t", out_file)[0] == 0
    rc, _out, err = run(capsys, "--library", lib, "tree", "import", out_file, "--name", "copy")
    assert rc == 0, err
    a = json.loads(out_file.read_text())
    run(capsys, "--library", lib, "tree", "export", "copy", tmp_path / "c.json")
    b = json.loads((tmp_path / "c.json").read_text())
    assert a["nodes"] == b["nodes"]
    # the copy keeps the built-in examples (before, the file did not say where they came from)
    assert a["builtins"] == b["builtins"] == {"from": "instruments", "off": False}
    assert a == {**b, "name": "t"}
    # a file naming a bundled tree this Sampletree lacks: imported without, and said so
    out_file.write_text(json.dumps({**a, "builtins": {"from": "orchestra", "off": False}}))
    rc, out, err = run(capsys, "--library", lib, "tree", "import", out_file, "--name", "o")
    assert rc == 0 and "imported tree 'o'" in out
    assert 'without built-in examples' in err and '"orchestra"' in err


@pytest.mark.parametrize("argv, words", [
    (["label", "mine", "Bass", "/nowhere/x.wav"], "not in the library"),
    (["label", "mine", "Bass", "FOLDER/bass"], "is a folder; give files of the library"),
    (["unlabel", "mine", "FOLDER/bass"], "is a folder; give files of the library"),
    (["label", "nope", "Bass", "FOLDER/bass/b0.wav"], "nope"),
    (["label", "mine", "No/Such", "FOLDER/bass/b0.wav"], "No"),
    (["classify", "nope"], "nope"),
    (["classify", "mine"], "no examples yet"),
    (["similar", "/nowhere/x.wav"], "not in the library"),
    (["tree", "import", "BADJSON"], "JSON"),
    (["tree", "create", "mine"], "mine"),
])
def test_failures_are_one_line(scanned, capsys, tmp_path: Path, argv, words) -> None:
    lib, folder = scanned
    run(capsys, "--library", lib, "tree", "create", "mine", "--from", "producer")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    argv = [a.replace("FOLDER", str(folder)).replace("BADJSON", str(bad)) for a in argv]
    rc, _out, err = run(capsys, "--library", lib, *argv)
    lines = err.strip().splitlines()
    assert rc == 1 and len(lines) == 1 and lines[0].startswith("sampletree: error:"), err
    assert words in lines[0]


def test_relabel_dry_run_apply_and_undo(scanned, capsys, tmp_path: Path) -> None:
    import hashlib

    lib, folder = scanned
    run(capsys, "--library", lib, "tree", "create", "mine", "--from", "producer")
    run(capsys, "--library", lib, "label", "mine", "Bass", folder / "bass/b0.wav")
    run(capsys, "--library", lib, "label", "mine", "Drums/Hi-hat", folder / "hats/h0.wav")

    def snapshot() -> dict[str, str]:
        return {p.relative_to(tmp_path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in tmp_path.rglob("*")  # the library, its log and backups aside
                if p.is_file() and "lib.sqlite" not in p.relative_to(tmp_path).as_posix()}

    before = snapshot()
    dest = tmp_path / "sorted"
    rc, out, err = run(capsys, "--library", lib, "relabel", "mine", "--mode", "move",
                       "--dest", dest, "--dry-run", "--json")
    plan = json.loads(out)
    assert rc == 0 and plan["dry_run"] and plan["operations"], err
    assert snapshot() == before and not dest.exists()

    rc, out, err = run(capsys, "--library", lib, "relabel", "mine", "--mode", "move",
                       "--dest", dest, "--json")
    applied = json.loads(out)
    assert rc == 0, err
    assert applied["report"]["done"] == len(applied["operations"]) > 0
    assert (dest / "Bass" / "b0.wav").exists() and not (folder / "bass/b0.wav").exists()
    rc, out, _ = run(capsys, "--library", lib, "ls", "--json")
    assert str(dest / "Bass" / "b0.wav") in {r["path"] for r in json.loads(out)}

    rc, out, err = run(capsys, "--library", lib, "undo", str(applied["batch"]))
    assert rc == 0 and "undone" in out, err
    assert snapshot() == before
    rc, _out, err = run(capsys, "--library", lib, "undo", str(applied["batch"]))
    assert rc == 1 and err.startswith("sampletree: error:")


def test_rescan_of_a_labeled_library_refreshes_its_labels(scanned, capsys, weights) -> None:
    lib, folder = scanned
    run(capsys, "--library", lib, "tree", "create", "mine", "--from", "producer")
    run(capsys, "--library", lib, "label", "mine", "Bass", folder / "bass/b0.wav")
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0",
                       "--model", weights)
    assert rc == 0, err  # was: "sampletree: error: the library is closed"
    assert "labels refreshed for mine" in out


def test_classify_ls_and_label_speak_one_vocabulary(scanned, capsys, weights) -> None:
    """Issue #15 item 4: one word per state, and the same counts from every command."""
    from core.labeltext import summary

    lib, folder = scanned
    (folder / "broken.wav").write_text("not audio")  # a file with no prediction
    assert run(capsys, "--library", lib, "scan", folder, "--jobs", "0", "--model",
               weights)[0] == 0
    run(capsys, "--library", lib, "tree", "create", "mine", "--from", "producer")
    for node, files in (("Bass", ["bass/b0.wav", "bass/b1.wav"]),
                        ("Synth", ["lead/l0.flac", "lead/l1.flac"])):
        rc, _out, err = run(capsys, "--library", lib, "label", "mine", node,
                            *[folder / f for f in files])
        assert rc == 0, err
    rc, out, err = run(capsys, "--library", lib, "classify", "mine", "--json")
    rows = json.loads(out)
    states = {r["state"] for r in rows}
    assert states <= {"class", "group", "uncertain", "unknown"}
    rc, out, classify_err = run(capsys, "--library", lib, "classify", "mine",
                                "--min-confidence", "1")
    assert rc == 0
    text = out.splitlines()
    # with a confidence of 1 needed, every file but the examples backs off
    assert any("  uncertain " in ln or "  ~ " in ln for ln in text), out
    assert not any("(uncertain)" in ln or "?" in ln.split("/")[0] for ln in text), out
    counts_line = classify_err.strip().splitlines()[-1]
    assert counts_line.startswith("13 files: ") and ", 1 unlabeled" in counts_line, counts_line
    rc, out, ls_err = run(capsys, "--library", lib, "ls")
    for ln in out.splitlines():
        assert re.search(r"\[(~ \S+|uncertain|\S+) \d\.\d\d\]$|\[unlabeled\]|\[unknown\]$", ln), ln
        assert "[?" not in ln
    assert ls_err.strip().splitlines()[-1] == counts_line.split(" (tree")[0] + " (tree mine)"
    rc, _out, label_err = run(capsys, "--library", lib, "unlabel", "mine",
                              folder / "bass/b1.wav")
    assert "labels updated: 13 files: " in label_err
    assert summary({"class": 1, "group": 2, "uncertain": 3, "unknown": 4, "unlabeled": 5}) == (
        "15 files: 1 class, 2 ~ group, 3 uncertain, 4 unknown, 5 unlabeled")


def test_label_and_unlabel_say_what_changed(scanned, capsys) -> None:
    """Before: a file already on the node printed "0 examples of …", a move from another
    node was silent, unlabel of a non-example printed "removed 0 examples" and
    re-predicted anyway."""
    lib, folder = scanned
    run(capsys, "--library", lib, "tree", "create", "mine", "--from", "producer")
    h0, h1 = folder / "hats/h0.wav", folder / "hats/h1.wav"
    rc, out, err = run(capsys, "--library", lib, "label", "mine", "drums/hi-hat", h0)
    assert rc == 0 and out == "1 example of Drums/Hi-hat\n" and "labels updated" in err
    rc, out, err = run(capsys, "--library", lib, "label", "mine", "Drums/Hi-hat", h0)
    assert rc == 0 and out == f"{h0} is already an example of Drums/Hi-hat\n", out
    assert "labels" not in err  # nothing changed: nothing predicted again
    rc, out, err = run(capsys, "--library", lib, "label", "mine", "Drums/Kick", h0, h1)
    assert rc == 0 and out == "2 examples of Drums/Kick (moved 1 from Drums/Hi-hat)\n", out
    rc, out, err = run(capsys, "--library", lib, "label", "mine", "Drums/Hi-hat", h0)
    assert out == "1 example of Drums/Hi-hat (moved from Drums/Kick)\n", out
    rc, out, err = run(capsys, "--library", lib, "label", "mine", "Drums/Hi-hat", h0, h1)
    assert out == (f"1 example of Drums/Hi-hat (moved from Drums/Kick)\n"
                   f"{h0} is already an example of Drums/Hi-hat\n"), out
    rc, out, err = run(capsys, "--library", lib, "label", "mine", "Drums/Hi-hat", h0, h1)
    assert out == "2 files are already examples of Drums/Hi-hat\n", out

    rc, out, err = run(capsys, "--library", lib, "unlabel", "mine", h0)
    assert rc == 0 and out == "removed 1 example of Drums/Hi-hat\n" and "labels updated" in err
    b0 = folder / "bass/b0.wav"
    rc, out, err = run(capsys, "--library", lib, "unlabel", "mine", b0)
    # a no-op, like `relabel` with nothing to do: said, exit 0, labels left as they are
    assert rc == 0 and out == f"{b0} is not an example in tree 'mine'; nothing changed\n"
    assert err == ""
    rc, out, err = run(capsys, "--library", lib, "unlabel", "mine", h1, b0, h0)
    assert rc == 0 and out == ("removed 1 example of Drums/Hi-hat\n"
                               "2 files are not examples in tree 'mine'\n"), out


def test_label_of_a_scanned_file_that_is_not_audio_says_why(scanned, capsys) -> None:
    """Before: "is not in the library; scan its folder first", though its folder was
    scanned and the file passed over; `similar` said why."""
    lib, folder = scanned
    run(capsys, "--library", lib, "tree", "create", "mine", "--from", "producer")
    readme = folder / "README.md"
    readme.write_text("not audio")
    for argv in (["label", "mine", "Drums/Kick", readme], ["unlabel", "mine", readme],
                 ["similar", readme]):
        rc, _out, err = run(capsys, "--library", lib, *argv)
        assert rc == 1 and "scan its folder first" not in err, err
        assert "the scans of its folder passed it over (not audio)" in err, err
    elsewhere = folder.parent / "elsewhere.wav"
    elsewhere.write_bytes(b"RIFF")
    rc, _out, err = run(capsys, "--library", lib, "label", "mine", "Drums/Kick", elsewhere)
    assert rc == 1 and "is not in the library; scan its folder first" in err
    rc, _out, err = run(capsys, "--library", lib, "label", "mine", "Drums/Kick",
                        folder / "gone.wav")
    assert rc == 1 and "no such file, and not in the library" in err


def test_tree_rename_move_and_reorder_say_what_changed(scanned, capsys) -> None:
    lib, _folder = scanned
    run(capsys, "--library", lib, "tree", "create", "mine")
    for path in ("Synth/Bass", "Synth/Lead", "Drums"):
        run(capsys, "--library", lib, "tree", "add", "mine", path)
    rc, out, _ = run(capsys, "--library", lib, "tree", "rename", "mine", "synth/lead", "Leads")
    assert rc == 0 and out == "renamed Synth/Lead to Synth/Leads\n"
    rc, out, _ = run(capsys, "--library", lib, "tree", "move", "mine", "Synth/Bass", "")
    assert rc == 0 and out == "moved Synth/Bass to the top level: Bass\n"
    rc, out, _ = run(capsys, "--library", lib, "tree", "move", "mine", "Bass", "Drums",
                     "--position", "0")
    assert rc == 0 and out == "moved Bass under Drums: Drums/Bass (position 0)\n"
    rc, out, _ = run(capsys, "--library", lib, "tree", "reorder", "mine", "Drums", "0")
    assert rc == 0 and out == "Drums is now at position 0 among its siblings\n"
    rc, out, _ = run(capsys, "--library", lib, "tree", "rename", "mine", "ours")
    assert rc == 0 and out == "renamed tree 'mine' to 'ours'\n"


def test_scan_demo_scans_a_copy_in_the_data_folder(write_audio, tmp_path: Path, weights: Path,
                                                    capsys, monkeypatch) -> None:
    """`scan --demo` (the app's "Try the demo library" too) scans a copy: a relabel of it
    moves the copy's files, never Sampletree's own resources/demo."""
    import app.paths
    import core.demo

    demo = tmp_path / "bundled"
    write_audio("Bass/b0.wav", root=demo)
    write_audio("Keys/k0.wav", freq=880.0, root=demo)
    monkeypatch.setattr(core.demo, "bundled_demo", lambda: demo)
    monkeypatch.setattr(app.paths, "demo_copy_parent", lambda: tmp_path / "data")
    lib = tmp_path / "lib.sqlite"
    rc, out, err = run(capsys, "--library", lib, "scan", "--demo", "--jobs", "0",
                       "--model", weights)
    copy = tmp_path / "data" / "Sampletree Demo"
    assert rc == 0, err
    assert f"the demo library is scanned as a copy: {copy}" in err
    assert "2 audio files" in out and (copy / "Bass" / "b0.wav").is_file()
    rc, out, err = run(capsys, "--library", lib, "status", "--json")
    assert json.loads(out)["roots"] == [str(copy)], out
    rc, out, err = run(capsys, "--library", lib, "scan", "--demo", "--jobs", "0",
                       "--model", weights)  # the intact copy again
    assert rc == 0 and "2 unchanged" in out, out
