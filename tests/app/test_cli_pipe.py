"""A reader that goes away (``sampletree scan DIR 2>&1 | head -3``, ``ls | head``) ends a
command quietly: no traceback, status 141 (as a tool killed by SIGPIPE), and a scan whose
progress can no longer be shown still finishes (found by a review: the scan stopped with
"[Errno 32] Broken pipe" recorded as its failure, and the command said 0)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]


def run_closed(*argv: str | Path, close: tuple[str, ...]) -> tuple[int, str, str]:
    """Run the CLI with ``close`` ("stdout", "stderr") writing into a pipe nobody reads;
    what goes to the open stream(s) is returned."""
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first line
    env = {**os.environ, "PYTHONPATH": str(REPO), "SAMPLETREE_NO_AUDIO": "1"}
    env.pop("SAMPLETREE_PROGRESS", None)
    try:
        p = subprocess.run([sys.executable, "-m", "app.cli", *map(str, argv)], env=env,
                           stdout=w if "stdout" in close else subprocess.PIPE,
                           stderr=w if "stderr" in close else subprocess.PIPE,
                           timeout=300, cwd=REPO)
    finally:
        os.close(w)
    return p.returncode, (p.stdout or b"").decode(), (p.stderr or b"").decode()


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pack")
    rng = np.random.default_rng(0)
    for i in range(4):
        sf.write(str(root / f"s{i}.wav"), (0.1 * rng.standard_normal(8000)).astype(np.float32),
                 16_000)
    return root


def test_scan_into_a_closed_pipe_finishes_the_scan_and_exits_quietly(
        tmp_path: Path, pack: Path, weights: Path) -> None:
    lib = tmp_path / "lib.sqlite"
    rc, _out, _err = run_closed("--library", lib, "scan", pack, "--jobs", "0", "--model",
                                weights, close=("stdout", "stderr"))  # 2>&1 | head
    assert rc == 141
    rc, out, err = run_closed("--library", lib, "status", close=())
    assert rc == 0, err
    last = next(line for line in out.splitlines() if line.startswith("Last scan"))
    assert "failed" not in last and "Broken pipe" not in last, last
    assert "4 audio files" in last


@pytest.mark.parametrize("args", [["ls", "-l"], ["ls", "--json"], ["status"]])
def test_a_closed_stdout_is_no_traceback(tmp_path: Path, pack: Path, weights: Path,
                                         args: list[str]) -> None:
    lib = tmp_path / "lib.sqlite"
    assert run_closed("--library", lib, "scan", pack, "--jobs", "0", "--model", weights,
                      "--quiet", close=("stdout",))[0] == 141  # its report: stdout
    rc, _out, err = run_closed("--library", lib, *args, close=("stdout",))
    assert rc == 141 and err == "", err


@pytest.mark.parametrize("args", [["--help"], ["ls", "--help"], ["relabel", "--help"],
                                  ["--version"]])
def test_help_into_a_closed_pipe_ends_with_141(args: list[str]) -> None:
    """Found at the end of a session: argparse swallows the write's error, so help or the
    version written into a closed pipe (``sampletree --help | true``) said 0 where every
    other command says 141."""
    rc, _out, err = run_closed(*args, close=("stdout",))
    assert rc == 141 and err == "", err


def test_a_usage_error_into_a_closed_stderr_ends_quietly() -> None:
    rc, out, _err = run_closed("ls", "--no-such-option", close=("stderr",))
    assert rc == 141 and out == ""


def test_help_into_an_open_pipe_is_whole_and_says_0() -> None:
    rc, out, err = run_closed("--help", close=())
    assert rc == 0 and err == "" and out.startswith("usage: sampletree")
