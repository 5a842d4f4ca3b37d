"""scripts/bootstrap.sh, in parts (the whole script installs packages: never run here).

The venv path handling is checked by evaluating the script's own lines; the demo job by
running its section (between the ``# -- demo: begin`` and ``# -- demo: end`` markers) with
``sampletree`` as this interpreter's ``python -m app``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bootstrap.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _venv_lines() -> str:
    lines = SCRIPT.read_text().splitlines()
    picked = [ln for ln in lines if re.match(r'\s*(venv=|case "\$venv"|export PATH=)', ln)]
    assert any(ln.lstrip().startswith("export PATH=") for ln in picked)
    return "\n".join(picked)


@pytest.mark.parametrize("given, expected", [
    (None, "REPO/.venv"),
    ("venvs/x", "REPO/venvs/x"),
    ("/abs/olute/venv", "/abs/olute/venv"),
])
def test_the_venv_goes_on_path_whether_relative_or_absolute(tmp_path: Path, given, expected):
    env = {"PATH": "/usr/bin:/bin"}
    if given is not None:
        env["SAMPLETREE_VENV"] = given
    done = subprocess.run(["bash", "-c", f'set -eu\n{_venv_lines()}\necho "$PATH"'],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    first = done.stdout.strip().split(":")[0]
    assert first == expected.replace("REPO", str(tmp_path)) + "/bin"


def test_the_demo_labels_the_demo_library(tmp_path: Path) -> None:
    text = SCRIPT.read_text()
    section = text[text.index("# -- demo: begin"):text.index("# -- demo: end")]
    shim = tmp_path / "bin" / "sampletree"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m app "$@"\n')
    shim.chmod(0o755)
    py = tmp_path / "bin" / "python"  # the script's python is its venv's: this one here
    py.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    py.chmod(0o755)
    env = {**os.environ, "PATH": f"{shim.parent}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT), "SAMPLETREE_DEMO_LIBRARY": str(tmp_path / "demo.sqlite")}
    env.pop("SAMPLETREE_MODEL", None)
    done = subprocess.run(["bash", "-c", f"set -euo pipefail\n{section}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "Drums/Kick: Kick Power v114.wav, Kick Room Acoustic v89.aif" in out
    labeled = [ln for ln in done.stdout.splitlines()
               if re.match(r"\s*\d\.\d\d  \S", ln) and "/Sampletree Demo/" in ln]
    assert len(labeled) == 47, done.stdout
    # a copy beside the library was scanned, not the clone's resources/demo
    assert str(tmp_path / "Sampletree Demo") in done.stdout
    assert "resources/demo" not in done.stdout
    # the examples themselves are labeled as given, and most files land on a class
    assert sum("Drums/Kick" in ln for ln in labeled) >= 2
    summary = next(ln for ln in out.splitlines() if ln.startswith("47 files: "))
    assert int(summary.split()[2]) >= 30, summary  # "N class"
