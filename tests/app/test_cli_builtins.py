"""Labels out of the box on the command line: a fresh library scanned with the shipped
weights is labeled by the bundled producer tree's built-in examples, with no example of
the user's; `tree builtins` switches them off and on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.builtins import shipped_model_id
from core.labeltext import BUILTIN_MARK
from models import bundled_weights_path
from tests.cli_run import run


def _weights_model_id() -> str | None:
    sidecar = bundled_weights_path().with_suffix(".json")
    if not bundled_weights_path().is_file() or not sidecar.is_file():
        return None
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    return f"{meta['name']}-{meta['version']}-{str(meta['sha256'])[:12]}"


# Stale built-ins fail tests/core/test_builtins.py (with the command that regenerates them);
# these tests need them fresh.
pytestmark = pytest.mark.skipif(
    _weights_model_id() is None or shipped_model_id() != _weights_model_id(),
    reason="needs the shipped weights and built-in examples made with them")


@pytest.fixture
def fresh(write_audio, tmp_path: Path, capsys) -> tuple[Path, Path, str]:
    """A few generated sounds, scanned with the shipped weights into a new library."""
    for i in range(3):
        write_audio(f"bass/b{i}.wav", seconds=1.0, freq=55.0 * (1 + i / 8), seed=i)
        write_audio(f"lead/l{i}.flac", seconds=1.0, freq=1500.0 * (1 + i / 8), seed=i)
        write_audio(f"hats/h{i}.wav", seconds=0.3, freq=7000.0 + 50 * i, amp=0.05, seed=i)
    lib = tmp_path / "lib.sqlite"
    rc, out, err = run(capsys, "--library", lib, "scan", tmp_path / "samples", "--jobs", "0")
    assert rc == 0, err
    return lib, tmp_path / "samples", out


def test_a_fresh_scan_prints_labels_from_the_producer_tree(fresh, capsys) -> None:
    lib, folder, out = fresh
    assert "labels refreshed for producer" in out
    assert "labeled with the bundled tree 'producer' (built-in examples, ◦):" in out
    assert run(capsys, "--library", lib, "tree", "list")[1].split() == ["producer"]
    # ls picks the only tree: every file has a label state, none is unlabeled
    rc, out, err = run(capsys, "--library", lib, "ls")
    assert rc == 0 and "unlabeled]" not in out and "9 files: " in err
    assert "(tree producer)" in err
    rc, out, err = run(capsys, "--library", lib, "ls", "--tree", "producer")
    assert rc == 0 and out.count("[") == 9
    labeled = [line for line in out.splitlines() if "uncertain" not in line
               and "unknown" not in line]
    assert all(line.rstrip().split("[")[1].split()[-2] == BUILTIN_MARK for line in labeled)
    # classify and relabel work with zero user examples
    rc, out, err = run(capsys, "--library", lib, "classify", "producer")
    assert rc == 0 and "0 examples" in err and "built-in" in err
    rc, out, err = run(capsys, "--library", lib, "relabel", "producer", "--mode", "copy",
                       "--dest", folder.parent / "sorted", "--dry-run")
    assert rc == 0, err
    # a second scan of the same folder does not print the fresh-library summary again
    rc, out, _ = run(capsys, "--library", lib, "scan", folder, "--jobs", "0")
    assert rc == 0 and "labeled with the bundled tree" not in out


def test_tree_builtins_off_and_on(fresh, capsys) -> None:
    lib, _folder, _out = fresh
    rc, out, err = run(capsys, "--library", lib, "tree", "builtins", "producer", "off")
    assert rc == 0 and "built-in examples off for tree producer" in out
    assert "labels not updated: tree 'producer' has no examples yet" in err
    rc, _out, err = run(capsys, "--library", lib, "classify", "producer")
    assert rc != 0 and err.startswith("sampletree: error: ") and "no examples yet" in err
    rc, out, err = run(capsys, "--library", lib, "tree", "builtins", "producer", "on")
    assert rc == 0 and "from the bundled producer tree" in out and "labels updated" in err
    # a tree made empty has none; --from gives it the producer tree's, matched by path
    run(capsys, "--library", lib, "tree", "create", "mine")
    rc, _out, err = run(capsys, "--library", lib, "tree", "add", "mine", "Drums/Wobble")
    assert rc == 0 and "tip:" not in err  # no bundled node there
    rc, _out, err = run(capsys, "--library", lib, "tree", "add", "mine", "Drums/Kick")
    # `tree add` says how the bundled tree's built-ins could label it before it is taught
    assert rc == 0 and ("tip: Drums/Kick is a node of the bundled tree 'producer' too" in err
                        and "sampletree tree builtins mine on --from producer" in err)
    # and which classes would get none (and lose files to those that do)
    assert "1 class would not (Drums/Wobble) and would lose files" in err
    rc, _out, err = run(capsys, "--library", lib, "tree", "add", "mine", "Tonal/Keys/Piano")
    assert rc == 0 and "tip: Tonal/Keys/Piano matches Keys/Piano of the bundled tree " \
        "'producer'" in err and "2 nodes of 'mine' would get them" in err
    rc, _out, err = run(capsys, "--library", lib, "tree", "builtins", "mine", "on")
    assert rc != 0 and "not made from a bundled tree" in err and len(err.splitlines()) == 1
    rc, out, err = run(capsys, "--library", lib, "tree", "builtins", "mine", "on", "--from",
                       "producer")
    assert rc == 0 and "labels updated" in err
    rc, _out, err = run(capsys, "--library", lib, "tree", "add", "mine", "Drums/Snare")
    assert rc == 0 and "tip:" not in err  # it has the built-ins now


def test_a_tree_made_from_a_bundled_one_is_labeled_at_once(fresh, capsys) -> None:
    """`tree create --from producer` labels the library at once (its built-ins), and a
    node added to a tree relabels it; an empty new tree says nothing it cannot do."""
    lib, _folder, _out = fresh
    rc, _out, err = run(capsys, "--library", lib, "tree", "create", "copy", "--from",
                        "producer")
    assert rc == 0 and "labels updated" in err
    rc, _out, err = run(capsys, "--library", lib, "ls", "--tree", "copy")
    assert rc == 0 and " 0 unlabeled" in err
    rc, _out, err = run(capsys, "--library", lib, "tree", "add", "copy", "Drums/Perc 2")
    assert rc == 0 and "labels updated" in err
    rc, _out, err = run(capsys, "--library", lib, "tree", "create", "empty")
    assert rc == 0 and "labels" not in err


def test_plain_ls_with_several_trees_says_how_to_see_labels(fresh, capsys) -> None:
    lib, _folder, _out = fresh
    run(capsys, "--library", lib, "tree", "create", "empty")  # labels nothing
    rc, out, err = run(capsys, "--library", lib, "ls")
    assert rc == 0 and "[" not in out  # no tree labeled at anyone's request: no labels
    assert "labels: 2 trees, choose one with --tree NAME: empty, producer" in err


def test_plain_ls_shows_the_tree_labeled_last(fresh, capsys) -> None:
    """Review of 2026-11-30: after the README's `tree create mine --from producer`, plain
    `ls` lost every label (and `ls --json` had "label": null)."""
    lib, _folder, _out = fresh
    run(capsys, "--library", lib, "tree", "create", "mine", "--from", "producer")
    rc, out, err = run(capsys, "--library", lib, "ls")
    assert rc == 0 and "[" in out
    assert "(tree mine; the tree labeled last, --tree NAME for another: producer)" in err
    rc, out, _err = run(capsys, "--library", lib, "ls", "--json")
    assert any(r["label"] for r in json.loads(out))
    rc, _out, err = run(capsys, "--library", lib, "classify", "producer")
    assert rc == 0, err
    rc, out, err = run(capsys, "--library", lib, "ls")
    assert "(tree producer; the tree labeled last" in err
    rc, out, err = run(capsys, "--library", lib, "tree", "rm", "producer")
    rc, out, err = run(capsys, "--library", lib, "ls")
    assert rc == 0 and "(tree mine)" in err  # one tree left


def test_tree_show_counts_the_built_in_examples(fresh, capsys) -> None:
    lib, _folder, _out = fresh
    rc, out, _err = run(capsys, "--library", lib, "tree", "show", "producer")
    assert rc == 0
    kick = next(line for line in out.splitlines() if line.strip().startswith("Kick "))
    assert "0 examples (◦ " in kick and " built-in)" in kick
    rc, out, _err = run(capsys, "--library", lib, "tree", "show", "producer", "--json")
    nodes = json.loads(out)["nodes"]
    drums = next(n for n in nodes if n["name"] == "Drums")
    assert next(c for c in drums["children"] if c["name"] == "Kick")["builtin_examples"] > 0
